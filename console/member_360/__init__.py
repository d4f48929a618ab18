"""Member 360: one console page per member (selectors.py reads, views.py the page and its actions, forms.py)."""
