import { useState } from "preact/hooks";
import { api, must } from "../api/client";

export function SignIn({ stage, onSignedIn }: { stage: string; onSignedIn: () => void }) {
  const [email, setEmail] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const returnTo = location.pathname.startsWith("/app") ? location.pathname + location.search : "/app/";

  const devLogin = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      must(await api.POST("/auth/dev-login", { body: { email, name: email.split("@")[0] } }));
      onSignedIn();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="signin card">
      <h1>Sign in to redub</h1>
      <p>Upload a video, get it back with captions and a new voice in another language.</p>
      <a class="button primary" href={`/auth/google?return_to=${encodeURIComponent(returnTo)}`}>
        Continue with Google
      </a>
      {stage === "development" && (
        <form onSubmit={devLogin} class="dev">
          <h2>Development sign-in</h2>
          <p class="hint">
            This stage is development: sign in with any email, no password. (Google sign-in works here once
            GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are set in .env.local.)
          </p>
          <label for="dev-email">Email</label>
          <input
            id="dev-email"
            type="email"
            required
            autoComplete="email"
            value={email}
            onInput={(e) => setEmail((e.target as HTMLInputElement).value)}
          />
          <button type="submit" disabled={busy}>
            {busy ? "Signing in…" : "Sign in with email"}
          </button>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
        </form>
      )}
    </section>
  );
}
