"""The demo's pure part: the content's types and the planner that turns content and a seed into a history."""
