# systemd/: the units `make install` puts into systemdsystemunitdir
# (configure: --with-systemdsystemunitdir; no skips them).  They are made
# from their .in files at build time so that @sbindir@ is the configured
# one and fleetcastd.service's Type follows the libsystemd check.
FC_UNITS = systemd/fleetcastd.service systemd/fleetcast-agent.service
EXTRA_DIST += systemd/fleetcastd.service.in systemd/fleetcast-agent.service.in
CLEANFILES += $(FC_UNITS)
if HAVE_SYSTEMD_UNITS
systemdsystemunit_DATA = $(FC_UNITS)
else
noinst_DATA = $(FC_UNITS)
endif

$(FC_UNITS): Makefile
systemd/%.service: $(srcdir)/systemd/%.service.in
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@FC_UNIT_TYPE[@]|$(FC_UNIT_TYPE)|g' $< > $@.tmp && \
	mv $@.tmp $@
