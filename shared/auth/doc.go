// Package auth is how people sign in: Google sign-in (OpenID Connect),
// sessions, and the handlers of the five auth routes.
//
// # Routes
//
// Each route is its own Lambda; this package gives the handlers:
//
//	GET  /auth/google           Google.Start
//	GET  /auth/google/callback  Google.Callback
//	POST /auth/logout           LogoutHandler
//	GET  /me                    Sessions.Require(MeHandler())
//	POST /auth/dev-login        NewDevLogin (development only; 404 elsewhere)
//
// API Gateway binds each route to its method, so the handlers do not check
// it. Every error is a problem+json answer through httpapi.Error.
//
// # Google sign-in
//
// Start makes a random state, nonce and PKCE verifier, keeps them (with the
// optional return_to path) in a cookie signed with HMAC-SHA256 under
// AUTH_SECRET, valid 10 minutes, HttpOnly, SameSite=Lax, Path=/auth/google,
// and redirects to the provider with the S256 challenge and
// prompt=select_account. Callback requires the same state, exchanges the
// code with the verifier, verifies the ID token with go-oidc (signature by
// the provider's JWKS, issuer, audience = GOOGLE_CLIENT_ID, expiry), checks
// the nonce and email_verified, upserts the user by Google subject and opens
// a session. The cookie is signed, not encrypted: it only holds values the
// browser that started the sign-in may know. One sign-in per browser at a
// time: starting a second one in another tab makes the first one's callback
// fail with a 400.
//
// Discovery is lazy: NewGoogle does no I/O, the first Start or Callback
// fetches the discovery document and caches it for the life of the Lambda
// environment; a failure (503) is retried by the next request.
//
// # Sessions
//
// A session token is 256 random bits, given to the client base64url-encoded
// (43 characters) as the session cookie and, from dev-login, in the body. The
// database holds only HMAC-SHA256(AUTH_SECRET, token) in sessions.token_hash,
// so a leaked table opens no session; rotating AUTH_SECRET signs everybody
// out. A session lives 30 days from its last use: a use more than an hour
// after the last recorded one moves last_seen_at and expires_at (one
// statement that writes only then), and Require sends the cookie again with
// the new expiry. Revoked or expired sessions are refused.
//
// The cookie is "__Host-redub_session" (Secure, Path=/, no Domain) when
// AUTH_URL is https and "redub_session" (not Secure) for plain-HTTP local
// development; always HttpOnly and SameSite=Lax, with Max-Age to the expiry.
// A request may instead send "Authorization: Bearer <token>"; when it does,
// the cookie is ignored.
//
// # Cross-site requests
//
// A cookie is ambient: the browser attaches it to requests other sites make.
// SameSite=Lax stops cross-site POSTs in current browsers, and Require adds
// the check that does not depend on the browser: a cookie-authenticated
// request with any method but GET, HEAD or OPTIONS must carry an Origin (or,
// without one, a Referer) whose origin is AUTH_URL's, or it gets a 403
// problem. Bearer requests skip the check: nothing sends a bearer token on a
// site's behalf.
package auth
