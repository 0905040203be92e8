"""Compiled operations: each GraphQL document planned once into one SQL
statement whose single value is the response's `data`, as JSON text built by
PostgreSQL.

Why: strawberry's executor does Python work for every field of every
response — for a page of 50 pets, some 350 trips through graphql-core's field
machinery, one DataLoader batch per relation, and the serialisation of the
result. Here that work is done once per document; a request looks its plan
up, binds its variables, runs one statement and writes the bytes it returns.

How GraphQL maps to SQL:

    selection set          '{"a":' || <a> || ',"b":' || <b> || '}' in selection
                           order (aliases, fragments and @skip/@include
                           resolved by selection.collect, as the spec's
                           CollectFields does)
    scalar field           the column through its scalar's renderer
                           (sqltext: strawberry's serialisation, exactly)
    Pet                    a row of `pets` (or the row pet_fold() makes, asOf)
    PetEvent (interface)   a row of `pet_event_log`, rendered by
                           CASE event_type WHEN … THEN <its type's selection>
    Pet.mother, Event.pet  a scalar subquery: left join on the id
    Pet.offspring          an aggregate over the children, in id order
    connections            a keyset page (limit first + 1) numbered n; edges
    (pets, events,         and nodes aggregate its rows n <= first, pageInfo
    Pet.history)           counts them and takes the first and last cursors
    Query root             one SELECT of scalar subqueries, one per field
    Mutation root          the INSERT into the event's table, in a CTE
                           (or, with an idempotency key or a date left to
                           its default, the append function of sql/0020),
                           rendered as the payload: the event (as the
                           mutation's type, no CASE), and the pet as the
                           event left it (pet_fold of the event over the pet
                           the statement saw); a payload without the pet is
                           the INSERT's own RETURNING — insert and answer in
                           one statement, one round trip, one transaction

Equivalence with strawberry, which stays the reference:

  * SQL NULL means "not like strawberry": a null in a non-null field, an
    enum value or date the schema or Python cannot represent, a string that
    Python would parse differently. NULL propagates through every
    concatenation, so the whole statement returns NULL and the request is
    answered by strawberry, which reports it as it always has. A JSON null
    is the text 'null'.
  * Anything the compiler does not support (introspection, subscriptions,
    documents with several mutations, relations inside a mutation's payload)
    and any request strawberry would refuse (invalid document, bad
    variables, out-of-range page sizes, bad cursors) goes to strawberry
    with the body as it came.
  * Arguments are checked by the resolvers' own functions (api/context,
    api/cursors, api/queries) when a request binds them.

Parameters: a value from the request's variables is a parameter ($n); an
integer the document itself gives (a literal page size or history cursor,
or the default page size) is written into the SQL, so that PostgreSQL keeps
one plan for the prepared statement instead of planning it for every
request (Compiler.integer). So is a page size given as a variable
(`first: $first`), in a variant of its own for each size (plans.py).

Variants: a statement names only the filters a request gives, so that each
uses the index that serves it. Requests whose variables have the same shape
(which are null, which input fields are given, which lists are empty or
hold one item, the Booleans of @skip and @include) share a variant
(arguments.shape_of).

Modules: selection (fields per type), sqltext (scalars and JSON
building), arguments (values per request), objects (pets, events,
connections), pages (the keyset pages and root lookups), operations (query
and mutation roots), plans (parse, validate, compile, cache), http (the ASGI
layer in front of strawberry).
"""
