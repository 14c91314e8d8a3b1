/**
 * Notebook side: insert a `%%motorhead --session ID` cell, and show the body
 * of `%%motorhead` cells as Markdown (the cell is a chat message, not Python).
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

/** Quote an id for the magic's command line (POSIX shell rules) only when needed. */
export function quoteSessionId(id: string): string {
  return /^[\w.:@+=,/-]+$/.test(id) ? id : `'${id.replace(/'/g, `'"'"'`)}'`;
}

export function magicCell(sessionId: string): string {
  return `${MAGIC} --session ${quoteSessionId(sessionId)}\n`;
}

function setActiveSource(notebook: Notebook, source: string): void {
  notebook.activeCell?.model.sharedModel.setSource(source);
}

/**
 * Insert a `%%motorhead` cell below the active cell of the current notebook
 * (or a new notebook), preceded by `%load_ext motorhead_magic` when the
 * notebook does not load the extension yet, and focus it for typing.
 */
export async function insertMagicCell(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  sessionId: string
): Promise<NotebookPanel> {
  let panel = tracker.currentWidget;
  if (!panel) {
    panel = (await app.commands.execute('notebook:create-new', {})) as NotebookPanel;
  }
  await panel.context.ready;
  app.shell.activateById(panel.id);
  const notebook = panel.content;
  const sources = notebook.widgets.map(c => c.model.sharedModel.getSource());
  const blank = (i: number): boolean =>
    notebook.widgets[i]?.model.type === 'code' && sources[i].trim() === '';
  const put = (source: string): void => {
    if (notebook.activeCellIndex >= 0 && blank(notebook.activeCellIndex)) {
      setActiveSource(notebook, source); // reuse an empty cell, e.g. of a new notebook
    } else {
      NotebookActions.insertBelow(notebook);
      NotebookActions.changeCellType(notebook, 'code');
      setActiveSource(notebook, source);
    }
  };
  if (!sources.some(s => s.includes(LOAD_EXT))) {
    put(LOAD_EXT);
  }
  put(magicCell(sessionId));
  notebook.mode = 'edit';
  const editor = notebook.activeCell?.editor;
  if (editor) {
    editor.setCursorPosition(editor.getPositionAt(editor.model.sharedModel.getSource().length)!);
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
