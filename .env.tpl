# 1Password references for the development secrets: `op run --env-file=.env.tpl -- make dev`
# resolves every op:// reference into the environment of `make dev` (nothing is written to disk).
# The vault is "redub-development", one item per service; see docs/secrets.md for the layout and for
# staging/production (whose values reach SSM under /redub/<stage>/ with `op inject` in the deploy
# workflow). Values set here win over .env.local, which never overrides the process environment.
# Leave a line out (or delete the field in 1Password) to fall back to the local default.
STAGE=development

# Postgres: leave both out to let `make dev` start its throwaway cluster.
DATABASE_URL=op://redub-development/neon/pooled-url
DATABASE_URL_UNPOOLED=op://redub-development/neon/direct-url

# Sessions and Google sign-in.
AUTH_SECRET=op://redub-development/auth/secret
GOOGLE_CLIENT_ID=op://redub-development/google-oauth/client-id
GOOGLE_CLIENT_SECRET=op://redub-development/google-oauth/client-secret
DEV_LOGIN_CODE=op://redub-development/auth/dev-login-code

# Paid providers (without them the offline engines run).
OPENAI_API_KEY=op://redub-development/openai/api-key
ELEVENLABS_API_KEY=op://redub-development/elevenlabs/api-key

# Errors and logs.
SENTRY_DSN=op://redub-development/sentry/dsn
LOG_SHIP_TOKEN=op://redub-development/log-shipping/token
