"""Services: the only writers of members' state. Import from the submodules."""
