"""Admin panel keyboard (module-facing ``AdminPanelCallback``) and its screens."""
