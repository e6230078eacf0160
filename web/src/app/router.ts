// A tiny history router for the console's three kinds of page.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "library"; cursor?: string }
  | { page: "asset"; id: string }
  | { page: "job"; id: string }
  | { page: "missing" };

export function parse(path: string, search = ""): Route {
  const p = path.replace(/\/+$/, "");
  if (p === "/app" || p === "") {
    const cursor = new URLSearchParams(search).get("cursor") ?? undefined;
    return cursor ? { page: "library", cursor } : { page: "library" };
  }
  const m = /^\/app\/(assets|jobs)\/([0-9a-fA-F-]{36})$/.exec(p);
  if (m?.[2]) return { page: m[1] === "assets" ? "asset" : "job", id: m[2] };
  return { page: "missing" };
}

export function navigate(to: string) {
  history.pushState(null, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
  window.scrollTo(0, 0);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.pathname, location.search));
  useEffect(() => {
    const on = () => setRoute(parse(location.pathname, location.search));
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return route;
}

// onLink makes a plain <a href> navigate inside the app (and still work with
// a modifier key, middle click or no JavaScript).
export function onLink(e: MouseEvent) {
  const a = (e.target as HTMLElement).closest("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/app")) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}
