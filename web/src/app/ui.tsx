import type { ComponentChildren } from "preact";

export function Spinner({ label }: { label: string }) {
  return (
    <div class="loading" role="status" aria-live="polite">
      <span class="dot" aria-hidden="true" />
      {label}
    </div>
  );
}

export function ErrorBox({ error, retry }: { error: Error; retry?: () => void }) {
  return (
    <div class="error" role="alert">
      <p>
        <strong>Something went wrong.</strong> {error.message}
      </p>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Badge({ status }: { status: string }) {
  return <span class={`badge s-${status}`}>{status}</span>;
}

export function Bar({ value, label }: { value: number; label: string }) {
  return (
    <progress max={100} value={Math.round(value)} aria-label={label}>
      {Math.round(value)}%
    </progress>
  );
}

export function Card({ children }: { children: ComponentChildren }) {
  return <section class="card">{children}</section>;
}
