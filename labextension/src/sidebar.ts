/**
 * The "Motörhead" sidebar: a paged, searchable session list and a session
 * view (summary on top, messages below). Plain DOM on purpose: a page is at
 * most a few hundred nodes, built in one fragment, so 10,000 sessions or a
 * 10,000-message history paint as fast as one page does.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  IHistoryPage,
  IMessage,
  ISessionDetail,
  ISessionInfo,
  deleteSession,
  getHistory,
  getSession,
  listSessions
} from './api';

const PAGE_SIZE = 50;
const HISTORY_LIMIT = 100;
/** How often a visible list re-reads its page, so turns from kernels show up. */
const POLL_MS = 10_000;

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

function count(n: number, one: string, many: string): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
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
    this.search.placeholder = 'Search sessions…';
    this.search.addEventListener('input', () => this.onSearch());
    const refresh = button('⟳', 'mh-refresh', 'Refresh sessions');
    refresh.addEventListener('click', () => void this.refresh());
    const bar = el('div', 'mh-toolbar');
    bar.append(this.search, refresh);
    header.appendChild(bar);

    this.listView = el('div', 'mh-list-view');
    this.listView.append(header, this.status, this.list, this.pager);
    this.list.addEventListener('click', ev => {
      const item = (ev.target as HTMLElement).closest<HTMLElement>('.mh-session-item');
      if (item?.dataset.sessionId !== undefined) {
        void this.openSession(item.dataset.sessionId);
      }
    });
    this.list.addEventListener('keydown', ev => {
      const item = (ev.target as HTMLElement).closest<HTMLElement>('.mh-session-item');
      if (ev.key === 'Enter' && item?.dataset.sessionId !== undefined) {
        void this.openSession(item.dataset.sessionId);
      }
    });
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
      return this.openSession(this.currentSession);
    }
    const ticket = ++this.ticket;
    this.status.textContent = 'Loading…';
    try {
      const page = await listSessions(this.page, PAGE_SIZE, this.search.value.trim());
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
    if (!this.loaded || !this.isVisible || this.currentSession !== null || document.hidden) {
      return;
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
    this.sessionView.hidden = true;
    this.listView.hidden = false;
    void this.refresh();
  }

  async openSession(id: string): Promise<void> {
    const ticket = ++this.ticket;
    this.shownSession = id;
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
      const item = el('li', 'mh-session-item');
      item.dataset.sessionId = s.session_id;
      item.title = s.session_id;
      item.tabIndex = 0;
      item.append(
        el('div', 'mh-session-id', s.session_id),
        el(
          'div',
          'mh-session-meta',
          `${count(s.messages, 'message', 'messages')} · ` +
            `${count(s.summaries, 'summary', 'summaries')} · ${when(s.last_write)}`
        )
      );
      fragment.appendChild(item);
    }
    this.list.replaceChildren(fragment);
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

  private renderSession(detail: ISessionDetail, history: IHistoryPage): void {
    const id = detail.session_id;
    const actions = el('div', 'mh-toolbar');
    const open = button('Open in notebook', 'mh-open', 'Insert a %%motorhead cell for this session');
    open.addEventListener('click', () => void this.options.openInNotebook(id));
    const del = button('Delete', 'mh-delete jp-mod-warn', 'Delete this session');
    del.addEventListener('click', () => void this.confirmDelete(id));
    actions.append(this.backButton(), open, del);

    const head = el('div', 'mh-header');
    head.append(actions, el('h2', 'mh-title mh-session-title', id));
    head.appendChild(
      el(
        'div',
        'mh-session-meta mh-stats',
        `${count(detail.message_count, 'message', 'messages')} · ` +
          `${count(detail.summary_count, 'summary', 'summaries')} · ` +
          `${detail.tokens} summary tokens · window ${detail.messages.length}` +
          `${detail.window_size ? '/' + detail.window_size : ''} msgs ` +
          `(${detail.window_tokens} tokens)`
      )
    );

    const summary = el('section', 'mh-summary');
    summary.appendChild(
      el(
        'h3',
        'mh-section-title',
        !detail.summary
          ? 'Summary'
          : detail.summary.through_seq >= 0
            ? `Summary (through message #${detail.summary.through_seq})`
            : 'Summary (set by a client)'
      )
    );
    summary.appendChild(
      el('div', 'mh-summary-text', detail.context ?? 'No summary yet.')
    );

    const messages = el('section', 'mh-messages');
    messages.appendChild(el('h3', 'mh-section-title', 'Messages'));
    const log = el('ol', 'mh-message-list');
    this.appendHistory(log, history, id);
    messages.appendChild(log);
    this.sessionView.replaceChildren(head, summary, messages);
  }

  /** Put one history page into the log, with "Load older" above it when there is more. */
  private appendHistory(log: HTMLElement, page: IHistoryPage, id: string): void {
    const fragment = document.createDocumentFragment();
    if (page.next_cursor !== null) {
      const more = button(
        `Load older (${page.next_cursor} more)`,
        'mh-load-older'
      );
      more.addEventListener('click', async () => {
        more.disabled = true;
        try {
          const older = await getHistory(id, page.next_cursor!, HISTORY_LIMIT);
          more.remove();
          this.appendHistory(log, older, id);
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

  private messageNode(m: IMessage): HTMLElement {
    const item = el('li', `mh-message mh-role-${m.role.toLowerCase().replace(/\W/g, '')}`);
    if (m.summarized) {
      item.classList.add('mh-summarized');
    }
    item.dataset.seq = String(m.seq);
    const meta = el('div', 'mh-message-meta');
    meta.append(
      el('span', 'mh-role', m.role),
      el('span', 'mh-tokens', `#${m.seq} · ${m.tokens} tokens${m.summarized ? ' · summarized' : ''}`)
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
}
