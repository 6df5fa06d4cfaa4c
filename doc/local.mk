# doc/: man pages and documents installed with the programs.
dist_man_MANS += doc/fleetcast.1
dist_doc_DATA += doc/package-format.md doc/protocol.md doc/guide.md
