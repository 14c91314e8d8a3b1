/**
 * Notebook side: insert a `%%motorhead` cell (with `--session ID` for a chosen
 * session, plain otherwise: the kernel's own session), and show the body of
 * `%%motorhead` cells as Markdown (the cell is a chat message, not Python).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICodeCellModel } from '@jupyterlab/cells';
import {
  INotebookTracker,
  Notebook,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';

export const MAGIC = '%%motorhead';
const LOAD_EXT = '%load_ext motorhead_magic';
/** The mimetype of Markdown cells: GFM plus math, registered by JupyterLab itself. */
const MARKDOWN_MIME = 'text/x-ipythongfm';

/**
 * Quote an id for the magic's command line (parsed with POSIX shlex) only when
 * needed: single quotes unless the id holds one, then double quotes with `\` escapes.
 */
export function quoteSessionId(id: string): string {
  if (/^[\w.:@+=,/-]+$/.test(id)) {
    return id;
  }
  if (!id.includes("'")) {
    return `'${id}'`;
  }
  return `"${id.replace(/[\\"]/g, c => '\\' + c)}"`;
}

/** The magic line: `%%motorhead --session ID`, or a plain `%%motorhead` (the session
 * the kernel is bound to) without an id. */
export function magicCell(sessionId?: string): string {
  if (sessionId === undefined) {
    return `${MAGIC}\n`;
  }
  if (/[\r\n]/.test(sessionId)) {
    throw new Error('A session id with a line break cannot go on the %%motorhead line.');
  }
  return `${MAGIC} --session ${quoteSessionId(sessionId)}\n`;
}

function setActiveSource(notebook: Notebook, source: string): void {
  notebook.activeCell?.model.sharedModel.setSource(source);
}

/**
 * The notebook the user is looking at: the main area's current widget when it is a
 * notebook. Not the tracker's last-used one: with the Launcher (or any other
 * document) in front, a cell must not go into a notebook out of sight.
 */
export function currentNotebook(
  app: JupyterFrontEnd,
  tracker: INotebookTracker
): NotebookPanel | null {
  const current = app.shell.currentWidget;
  return current && tracker.has(current) ? (current as NotebookPanel) : null;
}

/**
 * Insert a `%%motorhead` cell below the active cell of the current notebook
 * (or a new notebook), preceded by `%load_ext motorhead_magic` when the
 * notebook does not load the extension yet, and focus it for typing.
 * Without a session id the cell is a plain `%%motorhead`.
 */
export async function insertMagicCell(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  sessionId?: string
): Promise<NotebookPanel> {
  const cell = magicCell(sessionId); // throws early for ids the magic line cannot hold
  let panel = currentNotebook(app, tracker);
  if (!panel) {
    // Name the default kernel, or JupyterLab asks which one to start.
    await app.serviceManager.kernelspecs.ready;
    const kernelName = app.serviceManager.kernelspecs.specs?.default;
    panel = (await app.commands.execute('notebook:create-new', {
      kernelName
    })) as NotebookPanel;
  }
  await panel.context.ready;
  app.shell.activateById(panel.id);
  const notebook = panel.content;
  const loaded = notebook.widgets.some(c =>
    c.model.sharedModel.getSource().includes(LOAD_EXT)
  );
  const put = (source: string): void => {
    const active = notebook.activeCell;
    const blank =
      active?.model.type === 'code' && active.model.sharedModel.getSource().trim() === '';
    if (blank) {
      setActiveSource(notebook, source); // reuse an empty cell, e.g. of a new notebook
    } else {
      NotebookActions.insertBelow(notebook);
      NotebookActions.changeCellType(notebook, 'code');
      setActiveSource(notebook, source);
    }
  };
  if (!loaded) {
    put(LOAD_EXT);
  }
  put(cell);
  // Focus after the shell has processed the activation, or it takes focus back.
  await new Promise(resolve => requestAnimationFrame(resolve));
  notebook.mode = 'edit';
  const editor = notebook.activeCell?.editor;
  if (editor) {
    const end = editor.getPositionAt(editor.model.sharedModel.getSource().length);
    if (end) {
      editor.setCursorPosition(end);
    }
    editor.focus();
  }
  return panel;
}

/**
 * Keep `%%motorhead` cells in Markdown mode. The notebook resets every code
 * cell's mimetype when the kernel language changes, so the override is
 * re-applied on each mimetype or content change of a cell.
 */
export function highlightMagicCells(tracker: INotebookTracker): void {
  const watched = new WeakSet<ICodeCellModel>();
  const apply = (panel: NotebookPanel, model: ICodeCellModel): void => {
    const isMagic = model.sharedModel.getSource().startsWith(MAGIC);
    const wanted = isMagic ? MARKDOWN_MIME : panel.content.codeMimetype;
    if (model.mimeType !== wanted && (isMagic || model.mimeType === MARKDOWN_MIME)) {
      model.mimeType = wanted;
    }
  };
  const watch = (panel: NotebookPanel): void => {
    for (const cell of panel.content.widgets) {
      if (cell.model.type !== 'code') {
        continue;
      }
      const model = cell.model as ICodeCellModel;
      if (!watched.has(model)) {
        // New cells only: a watched cell re-checks itself on its own changes.
        watched.add(model);
        model.contentChanged.connect(() => apply(panel, model));
        model.mimeTypeChanged.connect(() => apply(panel, model));
        apply(panel, model);
      }
    }
  };
  tracker.widgetAdded.connect((_, panel) => {
    panel.content.modelContentChanged.connect(() => watch(panel));
    void panel.context.ready.then(() => watch(panel));
  });
  tracker.forEach(panel => watch(panel));
}
