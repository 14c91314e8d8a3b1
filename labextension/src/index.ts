/**
 * motorhead-magic for JupyterLab: the "Motörhead" sidebar, palette commands,
 * and Markdown highlighting of `%%motorhead` cells.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { highlightMagicCells, insertMagicCell } from './notebook';
import { MotorheadSidebar } from './sidebar';

import iconSvg from '../style/icon.svg';

const CATEGORY = 'Motörhead';

export namespace CommandIDs {
  export const open = 'motorhead:open-sidebar';
  export const refresh = 'motorhead:refresh-sessions';
  export const insert = 'motorhead:insert-cell';
}

export const motorheadIcon = new LabIcon({ name: 'motorhead-magic:icon', svgstr: iconSvg });

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'motorhead-magic:plugin',
  description: 'Browse Motörhead memory sessions and open them in notebooks.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const { commands, shell } = app;
    const sidebar = new MotorheadSidebar({
      openInNotebook: async id => {
        await commands.execute(CommandIDs.insert, { sessionId: id });
      }
    });
    sidebar.title.icon = motorheadIcon;
    shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, sidebar.id);
    void app.restored.then(() => sidebar.isVisible && sidebar.ensureLoaded());
    commands.addCommand(CommandIDs.open, {
      label: 'Show Motörhead Sessions',
      caption: 'Open the Motörhead memory sidebar',
      icon: motorheadIcon,
      execute: () => {
        shell.activateById(sidebar.id);
        sidebar.ensureLoaded();
      }
    });
    commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh Motörhead Sessions',
      execute: () => sidebar.refresh()
    });
    commands.addCommand(CommandIDs.insert, {
      label: args =>
        args.sessionId ? `Insert %%motorhead Cell for ${args.sessionId}` : 'Insert %%motorhead Cell',
      caption:
        'Insert a %%motorhead cell into the notebook in front (or a new one): for the given ' +
        'session, else a plain cell, which uses the session the kernel is bound to',
      execute: async args => {
        const id = (args.sessionId as string | undefined) || undefined;
        try {
          return await insertMagicCell(app, tracker, id);
        } catch (err) {
          await showErrorMessage('Cannot insert a %%motorhead cell', err as Error);
        }
      }
    });
    if (palette) {
      for (const command of [CommandIDs.open, CommandIDs.refresh, CommandIDs.insert]) {
        palette.addItem({ command, category: CATEGORY });
      }
    }
    highlightMagicCells(tracker);
  }
};

export default plugin;
