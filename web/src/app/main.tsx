import { render } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError, api, must, type User } from "../api/client";
import "../style.css";
import { AssetPage } from "./asset";
import { JobPage } from "./job";
import { Library } from "./library";
import { onLink, useRoute } from "./router";
import { SignIn } from "./signin";
import { ErrorBox, Spinner } from "./ui";

type Session =
  | { state: "loading" }
  | { state: "out"; stage: string }
  | { state: "in"; user: User }
  | { state: "error"; error: Error };

function App() {
  const [session, setSession] = useState<Session>({ state: "loading" });
  const route = useRoute();

  const load = useCallback(async () => {
    setSession({ state: "loading" });
    try {
      const me = await api.GET("/me");
      if (me.response.status === 401) {
        // The stage tells whether the development email login exists (GET /health says it).
        const health = must(await api.GET("/health"));
        setSession({ state: "out", stage: health.stage });
        return;
      }
      setSession({ state: "in", user: must(me) });
    } catch (e) {
      setSession({ state: "error", error: e as Error });
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const signOut = async () => {
    await api.POST("/auth/logout");
    void load();
  };

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: delegates clicks on its links to the router
    // biome-ignore lint/a11y/useKeyWithClickEvents: links keep their own keyboard behaviour
    <div class="shell" onClick={onLink}>
      <header class="top">
        <a class="brand" href="/app/">
          redub
        </a>
        {session.state === "in" && (
          <nav aria-label="Account">
            <span class="who">{session.user.email}</span>
            <button type="button" class="ghost" onClick={signOut}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      <main id="main">
        {session.state === "loading" && <Spinner label="Checking your session…" />}
        {session.state === "error" && <ErrorBox error={session.error} retry={load} />}
        {session.state === "out" && <SignIn stage={session.stage} onSignedIn={load} />}
        {session.state === "in" && route.page === "library" && <Library cursor={route.cursor} />}
        {session.state === "in" && route.page === "asset" && <AssetPage id={route.id} />}
        {session.state === "in" && route.page === "job" && <JobPage id={route.id} />}
        {session.state === "in" && route.page === "missing" && (
          <section class="empty">
            <h1>Nothing here</h1>
            <p>
              This address is not a page of the console. <a href="/app/">Go to your library</a>.
            </p>
          </section>
        )}
      </main>
    </div>
  );
}

export { ApiError };

const root = document.getElementById("root");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
