# hello_world has nothing to configure; the file is kept to show the seed's layout.
