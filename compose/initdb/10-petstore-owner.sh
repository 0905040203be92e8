#!/bin/sh
# Runs once, when the postgres service starts on an empty volume: the image
# runs /docker-entrypoint-initdb.d/* as POSTGRES_USER, its superuser, which
# the app never uses. This makes the role the app connects as, petstore_owner:
# not a superuser, the owner of the petstore database (so of its schema), and
# allowed to create roles, so that the app's migrate makes petstore_api, the
# role every request then runs as, and gives it a password of its own.
set -eu
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set owner_password="$PETSTORE_OWNER_PASSWORD" --set database="$POSTGRES_DB" <<'SQL'
create role petstore_owner login createrole password :'owner_password';
alter database :"database" owner to petstore_owner;
SQL
