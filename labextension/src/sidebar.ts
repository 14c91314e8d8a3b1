/**
 * The "Motörhead" sidebar: a paged, searchable session list and a session
 * view (summary on top, messages below, opened at the newest message). Plain DOM
 * on purpose: a page is at most a few hundred nodes, built in one fragment, so
 * 10,000 sessions or a 10,000-message history paint as fast as one page does.
 *
 * While visible, the list and the open session re-read the store every POLL_MS
 * and re-render only what changed, so turns from kernels and summaries that land
 * show up.
 *
 * Typing in the search box finds sessions by id and by what their messages say
 * (the server's `/search`): each result shows its matching lines with the matched
 * words in <mark>, and a line opens the session at that message. Results are a
 * snapshot (not polled: a search may scan thousands of sessions); ⟳ runs it again.
 *
 * The sidebar serves the store, not a kernel: it says what the store knows (counts,
 * the summary point, messages after it), never a window size.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  ApiError,
  IHistoryPage,
  IMessage,
  ISessionDetail,
  ISearchHit,
  ISearchPage,
  ISearchResult,
  ISessionInfo,
  deleteSession,
  getHistory,
  getSession,
  listSessions,
  searchSessions
} from './api';

const PAGE_SIZE = 50;
const HISTORY_LIMIT = 100;
/** How often a visible list or session re-reads the store, so turns from kernels show up. */
const POLL_MS = 10_000;
/** Within this many pixels of the end, the log counts as "at the newest message". */
const AT_END_PX = 24;
/** Opening a search hit loads older pages of this size until its message is shown... */
const REVEAL_PAGE = 500;
/** ...at most this many of them (then "Load older" is the way further back). */
const REVEAL_PAGES = 10;
/** What the keyboard moves through in the list: sessions and their matching lines. */
const FOCUSABLE = '.mh-session-item, .mh-hit';

/** Build an element with a class and optional text in one line. */
function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function button(label: string, className: string, title = label): HTMLButtonElement {
  const b = el('button', `jp-Button mh-button ${className}`, label);
  b.type = 'button';
  b.title = title;
  return b;
}

function when(iso: string | null): string {
  return iso
    ? new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })
    : '—';
}

/**
 * `text` as DOM nodes with the `[start, end)` spans (in code points, as the server
 * counts) wrapped in <mark>. Only text nodes are made from `text`: user text is never
 * parsed as HTML. Spans out of order or out of range are ignored.
 */
export function markedText(text: string, marks: [number, number][]): DocumentFragment {
  const chars = Array.from(text);
  const fragment = document.createDocumentFragment();
  let at = 0;
  for (const [start, end] of marks) {
    if (start < at || end <= start || end > chars.length) {
      continue;
    }
    if (start > at) {
      fragment.append(chars.slice(at, start).join(''));
    }
    fragment.appendChild(el('mark', 'mh-mark', chars.slice(start, end).join('')));
    at = end;
  }
  if (at < chars.length) {
    fragment.append(chars.slice(at).join(''));
  }
  return fragment;
}

/** Where `query` occurs in `id` (case-insensitive, as the server matches ids), as a
 * code-point span; none when case folding changes the id's length. */
export function idMarks(id: string, query: string): [number, number][] {
  const lower = id.toLowerCase();
  const needle = query.toLowerCase();
  const at = lower.length === id.length && needle ? lower.indexOf(needle) : -1;
  if (at < 0) {
    return [];
  }
  const start = Array.from(id.slice(0, at)).length;
  return [[start, start + Array.from(id.slice(at, at + needle.length)).length]];
}

function count(n: number, one: string, many: string): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** The session's counts, in the words every surface uses. */
export function sessionStats(d: ISessionDetail): string {
  return (
    `${count(d.message_count, 'message', 'messages')} · ` +
    `${count(d.summary_count, 'summary', 'summaries')} · ` +
    `${d.tokens.toLocaleString()} tokens spent summarizing`
  );
}

/** Where the summary stands: its point and what came after it (facts of the store). */
export function summaryState(d: ISessionDetail): string {
  const after =
    d.after_summary === 0
      ? 'no messages after it'
      : `${count(d.after_summary, 'message', 'messages')} not yet summarized`;
  if (!d.summary) {
    return d.message_count === 0
      ? 'No summary yet'
      : `No summary yet · ${count(d.message_count, 'message', 'messages')} not yet summarized`;
  }
  const point =
    d.summary.through_seq >= 0
      ? `Summary through #${d.summary.through_seq.toLocaleString()}`
      : 'Summary set by a client';
  return `${point} · ${after}`;
}

/** Where a fork came from, as words around its parent: ["Fork of ", parent, " at #5"];
 * null for a session that is no fork. */
export function lineage(
  d: Pick<ISessionInfo, 'parent' | 'forked_at'>
): [string, string, string] | null {
  if (d.parent === null || d.parent === undefined) {
    return null; // no fork (or a server older than forks)
  }
  const at = typeof d.forked_at === 'number' ? ` at #${d.forked_at.toLocaleString()}` : '';
  return ['Fork of ', d.parent, at];
}

export interface ISidebarOptions {
  /** Called by "Open in notebook" with the session id. */
  openInNotebook: (sessionId: string) => Promise<void>;
}

export class MotorheadSidebar extends Widget {
  constructor(private readonly options: ISidebarOptions) {
    super();
    this.addClass('mh-sidebar');
    this.id = 'motorhead-magic-sidebar';
    this.title.caption = 'Motörhead memory sessions';

    const header = el('div', 'mh-header');
    header.appendChild(el('h2', 'mh-title', 'Motörhead'));
    this.search = el('input', 'jp-mod-styled mh-search');
    this.search.type = 'search';
    this.search.placeholder = 'Search sessions and messages…';
    this.search.setAttribute('aria-label', 'Search sessions by name or message text');
    this.search.addEventListener('input', () => this.onSearch());
    this.search.addEventListener('keydown', ev => this.onSearchKey(ev));
    const refresh = button('⟳', 'mh-refresh', 'Refresh sessions');
    refresh.addEventListener('click', () => void this.refresh());
    const bar = el('div', 'mh-toolbar');
    bar.append(this.search, refresh);
    header.appendChild(bar);

    this.listView = el('div', 'mh-list-view');
    this.status.setAttribute('role', 'status'); // read out: counts, "no matches"
    this.listView.append(header, this.status, this.list, this.pager);
    this.list.addEventListener('click', ev => this.openFrom(ev.target as HTMLElement));
    this.list.addEventListener('keydown', ev => this.onListKey(ev));
    this.pager.addEventListener('click', ev => {
      const step = (ev.target as HTMLElement).closest<HTMLElement>('[data-step]');
      if (step && !(step as HTMLButtonElement).disabled) {
        this.page += Number(step.dataset.step);
        void this.refresh();
      }
    });
    this.sessionView = el('div', 'mh-session-view');
    this.sessionView.hidden = true;
    this.node.append(this.listView, this.sessionView);
    this.timer = window.setInterval(() => void this.poll(), POLL_MS);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    this.searching?.abort();
    super.dispose();
  }

  /** The session shown in the session view, if any. */
  get currentSession(): string | null {
    return this.sessionView.hidden ? null : this.shownSession;
  }

  /** Fetch the list the first time the panel is shown, not at page load. */
  ensureLoaded(): void {
    if (!this.loaded) {
      this.loaded = true;
      void this.refresh();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.loaded) {
      if (this.scrollPending) {
        this.scrollToNewest();
      }
      void this.poll(); // catch up on what happened while hidden
    }
    this.ensureLoaded();
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.ensureLoaded();
    this.search.focus();
  }

  /** Reload what is on screen (the list, or the open session). */
  async refresh(): Promise<void> {
    if (this.currentSession !== null) {
      return this.pollSession(true);
    }
    const ticket = ++this.ticket;
    this.searching?.abort(); // a newer request wins: the server stops scanning for it
    this.searching = null;
    const q = this.search.value.trim();
    if (q) {
      return this.runSearch(q, ticket);
    }
    this.status.textContent = 'Loading…';
    try {
      const page = await listSessions(this.page, PAGE_SIZE, q);
      if (ticket !== this.ticket) {
        return; // a newer request won
      }
      if (page.page > page.pages && page.total > 0) {
        this.page = page.pages;
        return this.refresh();
      }
      this.shownList = JSON.stringify(page);
      this.renderList(page.sessions, page.total, page.page, page.pages);
    } catch (err) {
      this.status.textContent = `Could not load sessions: ${(err as Error).message}`;
    }
  }

  /** A quiet refresh of the list on screen: re-renders only what changed, never
   * fights a user action (any newer request wins), keeps the old list on errors. */
  private async poll(): Promise<void> {
    if (!this.loaded || !this.isVisible || document.hidden) {
      return;
    }
    if (this.currentSession !== null) {
      return this.pollSession(false);
    }
    if (this.search.value.trim()) {
      return; // search results are a snapshot: ⟳ runs the search again
    }
    const ticket = this.ticket;
    try {
      const page = await listSessions(this.page, PAGE_SIZE, this.search.value.trim());
      const key = JSON.stringify(page);
      if (ticket === this.ticket && key !== this.shownList && page.page <= page.pages) {
        this.shownList = key;
        this.renderList(page.sessions, page.total, page.page, page.pages);
      }
    } catch {
      // The next poll or a manual refresh will tell.
    }
  }

  showList(): void {
    const from = this.shownSession;
    this.sessionView.hidden = true;
    this.listView.hidden = false;
    // Back where the user was: the session just left keeps the keyboard focus.
    void this.refresh().then(() => {
      if (this.currentSession === null && from !== null) {
        this.list
          .querySelector<HTMLElement>(`.mh-session-item[data-session-id="${CSS.escape(from)}"]`)
          ?.focus();
      }
    });
  }

  /**
   * Show a session: its summary, facts and newest messages. With `seq` (a search
   * hit), older pages load until that message is there; it is scrolled to, marked
   * and focused.
   */
  async openSession(id: string, seq?: number): Promise<void> {
    const ticket = ++this.ticket;
    this.searching?.abort();
    this.searching = null;
    this.foundSeq = seq ?? null;
    this.shownSession = id;
    this.shownSessionKey = '';
    this.log = null;
    this.listView.hidden = true;
    this.sessionView.hidden = false;
    this.sessionView.replaceChildren(el('div', 'mh-status', 'Loading…'));
    try {
      const [detail, history] = await Promise.all([
        getSession(id),
        getHistory(id, undefined, HISTORY_LIMIT)
      ]);
      if (ticket === this.ticket) {
        this.renderSession(detail, history);
        if (seq !== undefined) {
          await this.reveal(id, seq, ticket);
        }
      }
    } catch (err) {
      if (ticket === this.ticket) {
        this.sessionView.replaceChildren(
          this.backButton(),
          el('div', 'mh-status mh-error', (err as Error).message)
        );
      }
    }
  }

  /**
   * Re-read the open session and update the view if anything changed: the counts,
   * the summary, the newest page of messages (older pages loaded by the user stay).
   * A view at its newest message stays there. `loud` (the refresh button) reports
   * errors; the timer's quiet polls keep what is shown and try again later.
   */
  private async pollSession(loud: boolean): Promise<void> {
    const id = this.currentSession;
    if (id === null || this.log === null) {
      return loud && id !== null ? this.openSession(id) : undefined;
    }
    const ticket = this.ticket;
    try {
      const [detail, history] = await Promise.all([
        getSession(id),
        getHistory(id, undefined, HISTORY_LIMIT)
      ]);
      if (ticket !== this.ticket || this.currentSession !== id) {
        return; // the user moved on
      }
      this.note.hidden = true;
      const key = JSON.stringify([detail, history]);
      if (key !== this.shownSessionKey) {
        this.updateSession(detail, history, key);
      }
    } catch (err) {
      if (ticket !== this.ticket || this.currentSession !== id) {
        return;
      }
      if (err instanceof ApiError && err.status === 404) {
        this.showNote('This session no longer exists (deleted elsewhere).');
      } else if (loud) {
        this.showNote(`Could not refresh: ${(err as Error).message}`);
      }
    }
  }

  /** Ask, then hard-delete a session and go back to the list. */
  async confirmDelete(id: string): Promise<boolean> {
    const result = await showDialog({
      title: 'Delete session',
      body: `Delete all memory of "${id}" (messages and summaries)? This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!result.button.accept) {
      return false;
    }
    try {
      await deleteSession(id);
    } catch (err) {
      await showErrorMessage('Delete failed', err as Error);
      return false;
    }
    this.showList();
    return true;
  }

  private onSearch(): void {
    window.clearTimeout(this.searchTimer);
    this.searchTimer = window.setTimeout(() => {
      this.page = 1;
      void this.refresh();
    }, 200);
  }

  /** ↓ goes from the search box into the results; Escape clears the search. */
  private onSearchKey(ev: KeyboardEvent): void {
    if (ev.key === 'ArrowDown') {
      const first = this.list.querySelector<HTMLElement>(FOCUSABLE);
      if (first) {
        ev.preventDefault();
        first.focus();
      }
    } else if (ev.key === 'Escape' && this.search.value) {
      ev.preventDefault();
      ev.stopPropagation();
      this.search.value = '';
      window.clearTimeout(this.searchTimer);
      this.page = 1;
      void this.refresh();
    }
  }

  /** Enter or Space opens; ↑ and ↓ move through sessions and their matching lines. */
  private onListKey(ev: KeyboardEvent): void {
    const target = ev.target as HTMLElement;
    if (ev.key === 'Enter' || (ev.key === ' ' && target.matches(FOCUSABLE))) {
      if (this.openFrom(target)) {
        ev.preventDefault();
      }
    } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      const all = Array.from(this.list.querySelectorAll<HTMLElement>(FOCUSABLE));
      const at = all.indexOf(target.closest<HTMLElement>(FOCUSABLE)!);
      const next = at + (ev.key === 'ArrowDown' ? 1 : -1);
      ev.preventDefault();
      if (next < 0) {
        this.search.focus();
      } else if (next < all.length) {
        all[next].focus();
      }
    }
  }

  /** Open what `target` is in: a matching line at its message, else its session. */
  private openFrom(target: HTMLElement): boolean {
    const hit = target.closest<HTMLElement>('.mh-hit');
    const item = target.closest<HTMLElement>('.mh-session-item');
    const id = item?.dataset.sessionId;
    if (id === undefined) {
      return false;
    }
    void this.openSession(id, hit ? Number(hit.dataset.seq) : undefined);
    return true;
  }

  /** Run the search on screen; only the newest request's answer is shown. */
  private async runSearch(q: string, ticket: number): Promise<void> {
    const searching = new AbortController();
    this.searching = searching;
    this.status.textContent = 'Searching…';
    try {
      const page = await searchSessions(this.page, PAGE_SIZE, q, searching.signal);
      if (ticket !== this.ticket) {
        return;
      }
      if (page.page > page.pages && page.total > 0) {
        this.page = page.pages;
        return this.refresh();
      }
      this.shownList = JSON.stringify(page);
      this.renderSearch(page);
    } catch (err) {
      if (ticket === this.ticket && !searching.signal.aborted) {
        this.status.textContent = `Could not search: ${(err as Error).message}`;
      }
    } finally {
      if (this.searching === searching) {
        this.searching = null;
      }
    }
  }

  /** What a search found and where it looked, in one line. */
  private searchStatus(page: ISearchPage): string {
    const q = `"${page.query}"`;
    const found =
      page.total === 0
        ? `No session or message matches ${q}.`
        : `${count(page.total, 'session matches', 'sessions match')} ${q}`;
    if (page.words.length === 0) {
      return `${found} (session names only: no words to look for in messages)`;
    }
    if (page.truncated) {
      return (
        `${found} · messages searched in the ${page.searched.toLocaleString()} most ` +
        `recently written of ${count(page.session_count, 'session', 'sessions')}`
      );
    }
    return found;
  }

  private renderSearch(page: ISearchPage): void {
    this.status.textContent = this.searchStatus(page);
    const fragment = document.createDocumentFragment();
    for (const s of page.sessions) {
      fragment.appendChild(this.resultNode(s, page.query));
    }
    this.list.replaceChildren(fragment);
    this.renderPager(page.page, page.pages);
  }

  /** A session row, its id's match marked, and its matching lines under it. */
  private resultNode(s: ISearchResult, query: string): HTMLElement {
    const item = this.sessionNode(s, s.id_match ? idMarks(s.session_id, query) : []);
    item.classList.add('mh-search-result');
    item.classList.toggle('mh-id-match', s.id_match);
    if (s.hits.length > 0) {
      const hits = el('ul', 'mh-hits');
      hits.setAttribute('aria-label', `Matching messages in ${s.session_id}`);
      for (const h of s.hits) {
        hits.appendChild(this.hitNode(h));
      }
      item.appendChild(hits);
    }
    return item;
  }

  private hitNode(h: ISearchHit): HTMLElement {
    const hit = el('li', 'mh-hit');
    hit.dataset.seq = String(h.seq);
    hit.tabIndex = 0;
    hit.title = `Open at message #${h.seq.toLocaleString()} (${when(h.created_at)})`;
    const meta = el('span', 'mh-hit-meta');
    meta.append(el('span', 'mh-role', h.role), ` #${h.seq.toLocaleString()}`);
    const text = el('span', 'mh-hit-text');
    text.appendChild(markedText(h.content, h.marks));
    hit.append(meta, text);
    return hit;
  }

  private renderList(
    sessions: ISessionInfo[],
    total: number,
    page: number,
    pages: number
  ): void {
    const q = this.search.value.trim();
    this.status.textContent =
      total === 0
        ? q
          ? `No session matches "${q}".`
          : 'No sessions yet. Run a %%motorhead cell to start one.'
        : `${total.toLocaleString()} session${total === 1 ? '' : 's'}`;
    const fragment = document.createDocumentFragment();
    for (const s of sessions) {
      fragment.appendChild(this.sessionNode(s));
    }
    this.list.replaceChildren(fragment);
    this.renderPager(page, pages);
  }

  /** One session of the list: its id (with `marks`), fork badge, counts, last write. */
  private sessionNode(s: ISessionInfo, marks: [number, number][] = []): HTMLElement {
    const item = el('li', 'mh-session-item');
    item.dataset.sessionId = s.session_id;
    item.title = s.session_id;
    item.tabIndex = 0;
    const row = el('div', 'mh-session-row');
    const name = el('div', 'mh-session-id');
    name.appendChild(markedText(s.session_id, marks));
    row.appendChild(name);
    const from = lineage(s);
    if (from !== null) {
      const badge = el('span', 'mh-fork-badge', 'fork');
      badge.title = from.join('');
      row.appendChild(badge);
      item.title = `${s.session_id}\n${from.join('')}`;
    }
    item.append(
      row,
      el(
        'div',
        'mh-session-meta',
        `${count(s.messages, 'message', 'messages')} · ` +
          `${count(s.summaries, 'summary', 'summaries')} · ${when(s.last_write)}`
      )
    );
    return item;
  }

  private renderPager(page: number, pages: number): void {
    const prev = button('‹ Prev', 'mh-prev');
    prev.dataset.step = '-1';
    prev.disabled = page <= 1;
    const next = button('Next ›', 'mh-next');
    next.dataset.step = '1';
    next.disabled = page >= pages;
    this.pager.replaceChildren(prev, el('span', 'mh-page', `${page} / ${pages}`), next);
    this.pager.hidden = pages <= 1;
  }

  private backButton(): HTMLButtonElement {
    const back = button('← Sessions', 'mh-back', 'Back to the session list');
    back.addEventListener('click', () => this.showList());
    return back;
  }

  private showNote(text: string): void {
    this.note.textContent = text;
    this.note.hidden = false;
  }

  private renderSession(detail: ISessionDetail, history: IHistoryPage): void {
    const id = detail.session_id;
    const actions = el('div', 'mh-toolbar');
    const open = button('Open in notebook', 'mh-open', 'Insert a %%motorhead cell for this session');
    open.addEventListener('click', () => void this.options.openInNotebook(id));
    const refresh = button('⟳', 'mh-session-refresh', 'Refresh this session');
    refresh.addEventListener('click', () => void this.pollSession(true));
    const del = button('Delete', 'mh-delete jp-mod-warn', 'Delete this session');
    del.addEventListener('click', () => void this.confirmDelete(id));
    actions.append(this.backButton(), refresh, open, del);
    this.shownMessages.clear();

    const head = el('div', 'mh-header');
    this.facts = el('div', 'mh-facts');
    this.note = el('div', 'mh-note mh-error');
    this.note.hidden = true;
    head.append(actions, el('h2', 'mh-title mh-session-title', id), this.facts, this.note);

    this.summaryBox = el('details', 'mh-summary');
    this.summaryBox.open = true;

    const messages = el('section', 'mh-messages');
    messages.appendChild(el('h3', 'mh-section-title', 'Messages'));
    this.log = el('ol', 'mh-message-list');
    messages.appendChild(this.log);
    this.renderFacts(detail);
    this.appendHistory(this.log, history, id);
    this.shownTotal = history.total;
    this.shownSessionKey = JSON.stringify([detail, history]);
    this.sessionView.replaceChildren(head, this.summaryBox, messages);
    this.scrollToNewest();
  }

  /** The header's facts and the summary section, from one detail answer. */
  private renderFacts(detail: ISessionDetail): void {
    const facts: HTMLElement[] = [];
    const from = lineage(detail);
    if (from !== null) {
      // "Fork of <parent> at #N", the parent a link to its own session view.
      const [before, parent, after] = from;
      const link = el('a', 'mh-parent-link', parent);
      link.href = '#';
      link.title = `Open ${parent}`;
      link.dataset.sessionId = parent;
      link.addEventListener('click', ev => {
        ev.preventDefault();
        void this.openSession(parent);
      });
      const line = el('div', 'mh-session-meta mh-lineage');
      line.append(before, link, after);
      facts.push(line);
    }
    facts.push(
      el('div', 'mh-session-meta mh-stats', sessionStats(detail)),
      el('div', 'mh-session-meta mh-summary-state', summaryState(detail))
    );
    for (const line of detail.progress) {
      facts.push(el('div', 'mh-progress', line));
    }
    if (detail.last_write) {
      facts.push(el('div', 'mh-session-meta mh-last-write', `last write ${when(detail.last_write)}`));
    }
    this.facts.replaceChildren(...facts);

    const s = detail.summary;
    const title = !s
      ? 'Summary'
      : s.through_seq >= 0
        ? `Summary (through message #${s.through_seq.toLocaleString()}, ${when(s.created_at)})`
        : `Summary (set by a client, ${when(s.created_at)})`;
    this.summaryBox.replaceChildren(
      el('summary', 'mh-section-title', title),
      el('div', 'mh-summary-text', detail.context ?? 'No summary yet.')
    );
  }

  /** Apply a newer answer to the open view without losing the user's place. */
  private updateSession(detail: ISessionDetail, history: IHistoryPage, key: string): void {
    const log = this.log!;
    if (history.total < this.shownTotal) {
      // Fewer messages than shown: deleted and written again; start over.
      this.renderSession(detail, history);
      return;
    }
    const atEnd = this.isAtNewest();
    const open = this.summaryBox.open;
    this.renderFacts(detail);
    this.summaryBox.open = open;
    const through = detail.summary?.through_seq ?? -1;
    for (const node of Array.from(log.querySelectorAll<HTMLElement>('.mh-message'))) {
      const seq = Number(node.dataset.seq);
      if (seq >= history.start) {
        node.remove(); // the newest page replaces it below
      } else if (node.classList.contains('mh-summarized') !== seq <= through) {
        node.replaceWith(this.messageNode(this.shownMessages.get(seq)!, seq <= through));
      }
    }
    const fragment = document.createDocumentFragment();
    for (const m of history.messages) {
      fragment.appendChild(this.messageNode(m));
    }
    log.appendChild(fragment);
    this.shownTotal = history.total;
    this.shownSessionKey = key;
    if (atEnd) {
      this.scrollToNewest();
    }
  }

  private isAtNewest(): boolean {
    const log = this.log;
    return !log || log.scrollHeight - log.scrollTop - log.clientHeight <= AT_END_PX;
  }

  /** Show the newest message (the end of the log), now or when the sidebar is shown. */
  private scrollToNewest(): void {
    const log = this.log;
    if (!log || !this.isVisible || log.clientHeight === 0) {
      this.scrollPending = true;
      return;
    }
    this.scrollPending = false;
    log.scrollTop = log.scrollHeight;
  }

  /** Load older pages until message `seq` is in the log (a bounded number), then
   * scroll it to the middle of the log, mark it and focus it. */
  private async reveal(id: string, seq: number, ticket: number): Promise<void> {
    const log = this.log!;
    const find = () => log.querySelector<HTMLElement>(`.mh-message[data-seq="${seq}"]`);
    try {
      for (let round = 0; round < REVEAL_PAGES && !find(); round++) {
        const cursor = this.olderCursor;
        if (cursor === null || seq >= cursor) {
          break;
        }
        const older = await getHistory(id, cursor, REVEAL_PAGE);
        if (ticket !== this.ticket || log !== this.log) {
          return; // the user moved on
        }
        log.querySelector(':scope > .mh-load-older')?.remove();
        this.appendHistory(log, older, id);
      }
    } catch (err) {
      if (ticket === this.ticket && log === this.log) {
        this.showNote(`Could not load message #${seq}: ${(err as Error).message}`);
      }
      return;
    }
    const node = find();
    if (!node) {
      this.showNote(`Message #${seq.toLocaleString()} is further back: use "Load older".`);
      return;
    }
    node.classList.add('mh-found');
    this.scrollPending = false;
    const box = log.getBoundingClientRect();
    const at = node.getBoundingClientRect();
    log.scrollTop += at.top - box.top - Math.max(0, (log.clientHeight - at.height) / 2);
    node.focus({ preventScroll: true });
  }

  /** Put one history page into the log, with "Load older" above it when there is more. */
  private appendHistory(log: HTMLElement, page: IHistoryPage, id: string): void {
    if (log === this.log) {
      this.olderCursor = page.next_cursor; // pages go in oldest last
    }
    const fragment = document.createDocumentFragment();
    if (page.next_cursor !== null) {
      const more = button(
        `Load older (${page.next_cursor.toLocaleString()} more)`,
        'mh-load-older'
      );
      more.addEventListener('click', async () => {
        more.disabled = true;
        try {
          const older = await getHistory(id, page.next_cursor!, HISTORY_LIMIT);
          if (log !== this.log) {
            return; // the view was rebuilt meanwhile
          }
          // Keep the message the user was reading in place while older ones go above.
          const fromEnd = log.scrollHeight - log.scrollTop;
          more.remove();
          this.appendHistory(log, older, id);
          log.scrollTop = log.scrollHeight - fromEnd;
        } catch (err) {
          more.disabled = false;
          await showErrorMessage('Could not load messages', err as Error);
        }
      });
      fragment.appendChild(more);
    }
    for (const m of page.messages) {
      fragment.appendChild(this.messageNode(m));
    }
    log.prepend(fragment);
  }

  private messageNode(m: IMessage, summarized = m.summarized): HTMLElement {
    this.shownMessages.set(m.seq, m);
    const item = el('li', `mh-message mh-role-${m.role.toLowerCase().replace(/\W/g, '')}`);
    if (summarized) {
      item.classList.add('mh-summarized');
    }
    if (m.seq === this.foundSeq) {
      item.classList.add('mh-found'); // the search hit it was opened at
      item.tabIndex = -1;
    }
    item.dataset.seq = String(m.seq);
    const meta = el('div', 'mh-message-meta');
    meta.append(
      el('span', 'mh-role', m.role),
      el(
        'span',
        'mh-tokens',
        `#${m.seq.toLocaleString()} · ${m.tokens} tokens${summarized ? ' · summarized' : ''}`
      )
    );
    meta.title = when(m.created_at);
    item.append(meta, el('div', 'mh-content', m.content));
    return item;
  }

  private readonly search: HTMLInputElement;
  private readonly listView: HTMLElement;
  private readonly sessionView: HTMLElement;
  private readonly status = el('div', 'mh-status');
  private readonly list = el('ul', 'mh-session-list');
  private readonly pager = el('div', 'mh-pager');
  private page = 1;
  private loaded = false;
  private ticket = 0;
  private searchTimer = 0;
  private shownSession: string | null = null;
  private shownList = '';
  private timer = 0;
  // The open session's view: its parts, and what it shows (to re-render only on change).
  private log: HTMLOListElement | null = null;
  private facts = el('div', 'mh-facts');
  private note = el('div', 'mh-note');
  private summaryBox = el('details', 'mh-summary');
  private shownSessionKey = '';
  private shownTotal = 0;
  private shownMessages = new Map<number, IMessage>();
  private scrollPending = false;
  /** The oldest loaded page's next_cursor: where "Load older" goes on. */
  private olderCursor: number | null = null;
  /** The message a search hit opened the session at. */
  private foundSeq: number | null = null;
  /** The search in flight, aborted when a newer request starts. */
  private searching: AbortController | null = null;
}
