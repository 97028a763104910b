// The one place the app talks to the server: same-origin fetch with the session cookie, the
// CSRF token on writes, and the server's error message turned into an exception.

export class ApiError extends Error {
  constructor(public status: number, message: string, public body?: unknown) {
    super(message);
  }
}

let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

type Json = unknown;

export interface RequestOptions {
  method?: string;
  json?: Json;
  body?: BodyInit;
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
  raw?: boolean;
}

export function url(path: string, query?: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`;
  let body: unknown;
  try {
    body = await response.json();
    const m = (body as { message?: unknown })?.message ?? (body as { detail?: unknown })?.detail;
    if (typeof m === "string") message = m;
  } catch {
    /* not JSON */
  }
  return new ApiError(response.status, message, body);
}

export async function request<T = any>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = (options.method ?? (options.json !== undefined || options.body ? "POST" : "GET")).toUpperCase();
  const headers: Record<string, string> = { accept: "application/json" };
  let body = options.body;
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  if (!["GET", "HEAD", "OPTIONS"].includes(method) && csrfToken) headers["x-csrf-token"] = csrfToken;
  const response = await fetch(url(path, options.query), {
    method, headers, body, credentials: "same-origin", signal: options.signal,
  });
  if (!response.ok) throw await errorFrom(response);
  if (options.raw) return response as unknown as T;
  if (response.status === 204) return undefined as T;
  const type = response.headers.get("content-type") ?? "";
  return (type.includes("json") ? response.json() : response.text()) as Promise<T>;
}

/** Items of a list answer, whatever envelope the route uses (bare array, {data}, {items}). */
export function items<T = any>(answer: any): T[] {
  if (Array.isArray(answer)) return answer;
  if (Array.isArray(answer?.data)) return answer.data;
  if (Array.isArray(answer?.items)) return answer.items;
  return [];
}

/** Upload with progress (fetch cannot report upload progress; XMLHttpRequest can). */
export function upload<T = any>(path: string, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.withCredentials = true;
    if (csrfToken) xhr.setRequestHeader("x-csrf-token", csrfToken);
    xhr.setRequestHeader("accept", "application/json");
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body: any = xhr.responseText;
      try { body = JSON.parse(xhr.responseText); } catch { /* keep text */ }
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(1); resolve(body); }
      else reject(new ApiError(xhr.status, body?.message ?? `${xhr.status} ${xhr.statusText}`, body));
    };
    xhr.onerror = () => reject(new ApiError(0, "Network error: the server could not be reached"));
    xhr.send(form);
  });
}
