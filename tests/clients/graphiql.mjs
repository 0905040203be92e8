// Drives GraphiQL in headless Chromium against a running server, with every
// request that is not to this machine blocked: the page must render, run its
// example query, run a mutation with a token from the Headers pane, and show
// in its subscription pane an event that another client writes.
// Usage: node graphiql.mjs <server url> <token> <screenshot path>
// Prints one JSON line of what it saw; exits 1 on the first failed step.
import { chromium } from "playwright-core";

const [server, token, screenshot] = process.argv.slice(2);
const STEP_TIMEOUT = 30_000;
const report = { blocked: [], consoleErrors: [], steps: [] };

function isLocal(url) {
  const { hostname, protocol } = new URL(url);
  if (protocol === "data:" || protocol === "blob:") return true;
  return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]";
}

async function setEditor(page, selector, text) {
  // GraphiQL 3's editors are CodeMirror 5 instances.
  await page.waitForSelector(`${selector} .CodeMirror`, { timeout: STEP_TIMEOUT });
  await page.evaluate(
    ([sel, value]) => document.querySelector(`${sel} .CodeMirror`).CodeMirror.setValue(value),
    [selector, text],
  );
}

async function run(page) {
  await page.click(".graphiql-execute-button");
}

async function clearResult(page) {
  await page.evaluate(() => {
    const editor = document.querySelector(".graphiql-response .CodeMirror");
    if (editor) editor.CodeMirror.setValue("");
  });
}

async function resultText(page) {
  return page.evaluate(() => {
    const editor = document.querySelector(".graphiql-response .CodeMirror");
    return editor ? editor.CodeMirror.getValue() : "";
  });
}

async function waitForResult(page, predicate, what) {
  const deadline = Date.now() + STEP_TIMEOUT;
  let text = "";
  while (Date.now() < deadline) {
    text = await resultText(page);
    if (predicate(text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: the result pane shows ${JSON.stringify(text.slice(0, 500))}`);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = null;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    report.blocked.push(url);
    return route.abort("blockedbyclient");
  });
  await context.routeWebSocket(/.*/, (ws) => {
    if (isLocal(ws.url())) return ws.connectToServer();
    report.blocked.push(ws.url());
    return ws.close();
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") report.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => report.consoleErrors.push(String(error)));

  await page.goto(`${server}/graphql`, { waitUntil: "load" });
  await page.waitForSelector(".graphiql-container .graphiql-query-editor", {
    timeout: STEP_TIMEOUT,
  });
  report.steps.push("rendered");

  await run(page);
  const pets = await waitForResult(page, (t) => t.includes('"pets"'), "example query");
  report.exampleQuery = JSON.parse(pets);
  report.steps.push("example query");

  await setEditor(page, ".graphiql-query-editor", [
    "mutation {",
    '  recordPetArrival(input: {name: "Biscuit", species: "Rabbit", price: "25.00"}) {',
    "    pet { id name status }",
    "    userErrors { code message }",
    "  }",
    "}",
  ].join("\n"));
  await page.getByText("Headers", { exact: true }).click();
  await setEditor(
    page,
    ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
    JSON.stringify({ Authorization: `Bearer ${token}` }),
  );
  // GraphiQL takes the operation's name from the editor a moment after a
  // change: run before then, and it sends the example query's name with the
  // new document, which the server refuses (nothing stored). Run again, with
  // the result pane cleared, until it has caught up.
  let written = "";
  for (let attempt = 0; attempt < 20; attempt++) {
    await clearResult(page);
    await run(page);
    written = await waitForResult(page, (t) => t.length > 0, "mutation");
    if (!written.includes("Unknown operation named")) break;
    await page.waitForTimeout(300);
  }
  if (!written.includes("recordPetArrival")) {
    throw new Error(`mutation: the result pane shows ${JSON.stringify(written.slice(0, 500))}`);
  }
  report.mutation = JSON.parse(written);
  report.steps.push("mutation with a token");

  // A link with the document in it: GraphiQL reads it when it starts, so
  // its fetcher knows at once that this is a subscription (for the socket).
  const subscription = "subscription { events { type ... on PetArrived { name species } } }";
  const watching = await context.newPage();
  await watching.goto(`${server}/graphql?q=${encodeURIComponent(subscription)}`);
  await watching.waitForSelector(".graphiql-container .graphiql-query-editor", {
    timeout: STEP_TIMEOUT,
  });
  await run(watching);
  // Another client writes while the subscription is open; the socket opens
  // lazily, so keep writing (a new pet each time) until one arrives.
  const deadline = Date.now() + STEP_TIMEOUT;
  let seen = "";
  for (let n = 1; Date.now() < deadline && !seen.includes("Pebble"); n++) {
    const response = await fetch(`${server}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `mutation { recordPetArrival(input: {name: "Pebble", species: "Turtle", price: "${n}.00"}) { pet { id } } }`,
      }),
    });
    if (!response.ok) throw new Error(`the other client's write failed: ${response.status}`);
    await watching.waitForTimeout(500);
    seen = await resultText(watching);
  }
  if (!seen.includes("Pebble")) throw new Error(`subscription: the result pane shows ${seen}`);
  report.subscription = JSON.parse(seen);
  report.steps.push("subscription event");
} catch (error) {
  failed = error;
} finally {
  const pages = browser.contexts().flatMap((c) => c.pages());
  if (pages.length && screenshot) await pages.at(-1).screenshot({ path: screenshot });
  await browser.close();
}
if (failed) report.error = String(failed.stack || failed);
console.log(JSON.stringify(report));
process.exit(failed ? 1 : 0);
