#!/usr/bin/env bash
# Creates or refreshes the previews' Neon seed branch: the schema from the migrations and the
# synthetic people of migrations/seed/preview.sql, nothing else. Previews branch from it, never
# from staging or production. docs/deploy.md#preview-stacks.
#
# Needs NEON_API_KEY, NEON_PREVIEW_PROJECT_ID (a Neon project for previews only) and optionally
# NEON_SEED_BRANCH (default preview-seed), NEON_DATABASE (redub), NEON_ROLE (redub_owner), and
# NEON_STAGING_PROJECT_ID / NEON_PRODUCTION_PROJECT_ID, which the preview project must not be.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${NEON_API_KEY:?set NEON_API_KEY}"
: "${NEON_PREVIEW_PROJECT_ID:?set NEON_PREVIEW_PROJECT_ID: a Neon project that holds previews only (docs/deploy.md)}"
seed=${NEON_SEED_BRANCH:-preview-seed}
database=${NEON_DATABASE:-redub}
role=${NEON_ROLE:-redub_owner}

for other in "${NEON_STAGING_PROJECT_ID:-}" "${NEON_PRODUCTION_PROJECT_ID:-}"; do
  if [[ -n "$other" && "$other" == "$NEON_PREVIEW_PROJECT_ID" ]]; then
    echo "preview-seed: NEON_PREVIEW_PROJECT_ID is a deployed stage's project; previews must not branch from it" >&2
    exit 1
  fi
done
case "$seed" in
  main | production | staging) echo "preview-seed: NEON_SEED_BRANCH=$seed names a stage's branch" >&2; exit 1 ;;
esac

neon() { npx --yes neonctl@5.0.1 "$@" --project-id "$NEON_PREVIEW_PROJECT_ID" --no-analytics; }

if ! neon branches get "$seed" --output json >/dev/null 2>&1; then
  # From the preview project's default branch, which nothing writes to: the seed starts empty.
  neon branches create --name "$seed" --output json >/dev/null
  echo "preview-seed: created Neon branch $seed"
fi
url=$(neon connection-string "$seed" --database-name "$database" --role-name "$role")
if [[ -n "${GITHUB_ACTIONS:-}" ]]; then echo "::add-mask::$url"; fi

# Start from nothing each time, so the branch holds exactly the migrations and the seed.
psql "$url" -v ON_ERROR_STOP=1 -q -c 'DROP SCHEMA IF EXISTS public CASCADE' -c 'CREATE SCHEMA public'
DATABASE_URL_UNPOOLED=$url go run ./cmd/redub migrate up
psql "$url" -v ON_ERROR_STOP=1 -q -f migrations/seed/preview.sql
echo "preview-seed: $seed holds the schema and the synthetic seed, nothing else"
