"""Pages and the embeddable web chat widget (``static/widget.js``), served by the app; no Node needed."""
