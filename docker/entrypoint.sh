#!/bin/sh
# The image's entry point: runs adworker with its arguments. A password may come from a file (a compose or
# Kubernetes secret) instead of the URL: with DATABASE_PASSWORD_FILE, DATABASE_URL (postgres://USER@HOST/DB...)
# gets that file's password; with AD_HTTP_DATABASE_PASSWORD_FILE, AD_HTTP_DATABASE_URL does. The password goes into
# the URL as it is, so it must be made of URL-safe characters (A-Z a-z 0-9 . _ ~ -), as `openssl rand -hex 32`
# makes them; anything else is refused, naming the file, rather than sent mangled.
set -eu

with_password() {
  name=$1 file=$2
  if [ ! -r "$file" ]; then
    echo "adworker-entrypoint: cannot read $file (the password file for $name)" >&2; exit 64
  fi
  password=$(cat "$file")
  case $password in
    '' | *[!A-Za-z0-9._~-]*)
      echo "adworker-entrypoint: the password in $file must be 1 or more of A-Z a-z 0-9 . _ ~ - (for example" \
           "openssl rand -hex 32): it goes into $name unescaped" >&2; exit 64 ;;
  esac
  eval "url=\${$name:-}"
  case $url in
    postgres://*@* | postgresql://*@*) ;;
    *) echo "adworker-entrypoint: $name must be postgres://USER@HOST:PORT/DB?... when $file gives its password" >&2
       exit 64 ;;
  esac
  scheme=${url%%://*} rest=${url#*://}
  user=${rest%%@*} host=${rest#*@}
  case $user in
    *:*) echo "adworker-entrypoint: $name already has a password; drop it or the password file" >&2; exit 64 ;;
  esac
  export "$name=$scheme://$user:$password@$host"
}

if [ -n "${DATABASE_PASSWORD_FILE:-}" ]; then with_password DATABASE_URL "$DATABASE_PASSWORD_FILE"; fi
if [ -n "${AD_HTTP_DATABASE_PASSWORD_FILE:-}" ]; then
  with_password AD_HTTP_DATABASE_URL "$AD_HTTP_DATABASE_PASSWORD_FILE"
fi
unset DATABASE_PASSWORD_FILE AD_HTTP_DATABASE_PASSWORD_FILE password
exec adworker "$@"
