"""The notebook face: the %%motorhead magics, their commands, the panel, the renderings."""
