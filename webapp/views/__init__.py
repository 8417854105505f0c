"""The page's views: each module makes one view's components, its handlers and its wiring, in one function."""
