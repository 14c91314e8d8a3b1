/**
 * Typed client of the server extension (`/motorhead-magic/api/`).
 * Everything goes through ServerConnection so Jupyter's token and XSRF apply.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface ISessionInfo {
  session_id: string;
  messages: number;
  summaries: number;
  last_write: string | null;
  window_tokens: number;
  /** The session this one was forked from, or null. */
  parent: string | null;
  /** The parent's last message copied into the fork, or null. */
  forked_at: number | null;
}

export interface ISessionPage {
  sessions: ISessionInfo[];
  total: number;
  page: number;
  size: number;
  pages: number;
  query: string;
}

/** One matching line of a search: the message cut to ~200 characters around its first
 * match ("…" where cut), with the matched words as [start, end) code-point offsets. */
export interface ISearchHit {
  seq: number;
  role: string;
  content: string;
  marks: [number, number][];
  score: number;
  created_at: string;
  summarized: boolean;
}

/** A session found by a search: its list row, whether its id matched, its matching lines. */
export interface ISearchResult extends ISessionInfo {
  id_match: boolean;
  /** The best hit's score, null when only the id matched. */
  score: number | null;
  hits: ISearchHit[];
}

/** A page of search results: ids first (newest first), then contents by best score. */
export interface ISearchPage {
  sessions: ISearchResult[];
  total: number;
  page: number;
  size: number;
  pages: number;
  query: string;
  id_matches: number;
  content_matches: number;
  /** Sessions whose messages were searched (the newest first). */
  searched: number;
  /** Sessions in the store. */
  session_count: number;
  /** Some sessions' messages were not searched (the scan is bounded). */
  truncated: boolean;
  /** The query's words, as the word index takes them (none: messages not searched). */
  words: string[];
}

export interface IMessage {
  session_id: string;
  seq: number;
  role: string;
  content: string;
  tokens: number;
  created_at: string;
  metadata: Record<string, unknown>;
  summarized: boolean;
}

export interface ISummary {
  session_id: string;
  through_seq: number;
  context: string;
  tokens_used: number;
  created_at: string;
}

/**
 * A session as the store tells it: the fields of `MemoryView.to_dict()` (the same
 * shape as the Motörhead server's `/window` route; `messages` is the window at the
 * server's own default size, which kernels may not share, so the sidebar does not
 * show it), plus counts. No window size: that is each kernel's setting.
 */
export interface ISessionDetail {
  session_id: string;
  messages: IMessage[];
  context: string | null;
  /** LLM tokens spent summarizing, over all summaries. */
  tokens: number;
  summary: ISummary | null;
  message_count: number;
  summary_count: number;
  /** Messages after the summary point: not yet summarized. */
  after_summary: number;
  last_write: string | null;
  /** Background summarization the store can tell of, one line each. */
  progress: string[];
  /** The session this one was forked from, or null. */
  parent: string | null;
  /** The parent's last message copied into the fork, or null. */
  forked_at: number | null;
}

export interface IHistoryPage {
  session_id: string;
  messages: IMessage[];
  total: number;
  start: number;
  end: number;
  next_cursor: number | null;
}

/** An error answer of the API, with the server's own message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

const settings = ServerConnection.makeSettings();

function sessionPath(id: string, ...rest: string[]): string {
  // One path segment whatever the id holds: '/' travels as %2F.
  return ['sessions', encodeURIComponent(id), ...rest].join('/');
}

async function request<T>(
  path: string,
  query: Record<string, string | number | undefined> = {},
  init: RequestInit = {}
): Promise<T> {
  const params = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&');
  let url = URLExt.join(settings.baseUrl, 'motorhead-magic/api', path);
  if (params) {
    url += `?${params}`;
  }
  const response = await ServerConnection.makeRequest(url, init, settings);
  if (response.status === 204) {
    return undefined as T;
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: text };
  }
  if (!response.ok) {
    throw new ApiError(response.status, body?.error ?? response.statusText);
  }
  return body as T;
}

export function listSessions(
  page: number,
  size: number,
  q: string
): Promise<ISessionPage> {
  return request<ISessionPage>('sessions', { page, size, q });
}

/** Sessions by id or by what their messages say; `signal` aborts a superseded search. */
export function searchSessions(
  page: number,
  size: number,
  q: string,
  signal?: AbortSignal
): Promise<ISearchPage> {
  return request<ISearchPage>('search', { page, size, q }, { signal });
}

export function getSession(id: string): Promise<ISessionDetail> {
  return request<ISessionDetail>(sessionPath(id));
}

export function getHistory(
  id: string,
  cursor?: number,
  limit = 100
): Promise<IHistoryPage> {
  return request<IHistoryPage>(sessionPath(id, 'history'), { cursor, limit });
}

export function deleteSession(id: string): Promise<void> {
  return request<void>(sessionPath(id), {}, { method: 'DELETE' });
}
