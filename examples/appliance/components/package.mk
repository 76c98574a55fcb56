# package.mk: turns a component's `install` target into a .deb and an .rpm.
# A component's Makefile sets NAME, VERSION (from its VERSION file), RELEASE,
# SUMMARY, DEB_DEPENDS, RPM_REQUIRES, CONFFILES and an `install` target that
# installs into $(DESTDIR), then includes this file.
#
#   make deb rpm     -> dist/NAME_VERSION-RELEASE_all.deb, dist/NAME-VERSION-RELEASE.noarch.rpm
#   make clean
#
# Builds are reproducible: every file's time is SOURCE_DATE_EPOCH (which
# `pipeline build` sets to the time of the last commit that changed the
# component's inputs), owners are root, modes do not depend on the umask
# (under umask 077 dpkg-deb refuses the control directory, and the
# packages would install unreadable directories).

SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH
BUILD := $(CURDIR)/build
DIST  := $(CURDIR)/dist
DEB   := $(DIST)/$(NAME)_$(VERSION)-$(RELEASE)_all.deb
RPM   := $(DIST)/$(NAME)-$(VERSION)-$(RELEASE).noarch.rpm

.PHONY: deb rpm clean stage
deb: $(DEB)
rpm: $(RPM)

stage:
	rm -rf $(BUILD)/root
	$(MAKE) --no-print-directory install DESTDIR=$(BUILD)/root
	chmod -R u+rwX,go+rX,go-w $(BUILD)/root
	find $(BUILD)/root -exec touch -h -d @$(SOURCE_DATE_EPOCH) {} +

$(DEB): stage
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/DEBIAN $(DIST)
	cp -a $(BUILD)/root/. $(BUILD)/deb/
	{ echo "Package: $(NAME)"; echo "Version: $(VERSION)-$(RELEASE)"; \
	  echo "Architecture: all"; echo "Maintainer: Appliance Team <team@appliance.example>"; \
	  echo "Section: admin"; echo "Priority: optional"; \
	  [ -z "$(DEB_DEPENDS)" ] || echo "Depends: $(DEB_DEPENDS)"; \
	  echo "Installed-Size: $$(du -sk $(BUILD)/root | cut -f1)"; \
	  echo "Description: $(SUMMARY)"; } > $(BUILD)/deb/DEBIAN/control
	for f in $(CONFFILES); do echo $$f; done > $(BUILD)/deb/DEBIAN/conffiles
	[ -s $(BUILD)/deb/DEBIAN/conffiles ] || rm $(BUILD)/deb/DEBIAN/conffiles
	for s in postinst prerm; do [ ! -f $$s ] || install -m 0755 $$s $(BUILD)/deb/DEBIAN/$$s; done
	chmod -R u+rwX,go+rX,go-w $(BUILD)/deb
	find $(BUILD)/deb -exec touch -h -d @$(SOURCE_DATE_EPOCH) {} +
	dpkg-deb --root-owner-group -Zgzip --build $(BUILD)/deb $@
	chmod 0644 $@

$(RPM): stage
	rm -rf $(BUILD)/rpm && mkdir -p $(BUILD)/rpm/SPECS $(DIST)
	{ echo "Name: $(NAME)"; echo "Version: $(VERSION)"; echo "Release: $(RELEASE)"; \
	  echo "Summary: $(SUMMARY)"; echo "License: MIT"; echo "BuildArch: noarch"; \
	  [ -z "$(RPM_REQUIRES)" ] || echo "Requires: $(RPM_REQUIRES)"; \
	  echo "%description"; echo "$(SUMMARY)"; \
	  echo "%install"; echo "cp -a $(BUILD)/root/. %{buildroot}/"; \
	  [ ! -f postinst ] || { echo "%post"; cat postinst; }; \
	  [ ! -f prerm ] || { echo "%preun"; cat prerm; }; \
	  echo "%files"; \
	  cd $(BUILD)/root && find . -type f | sed 's|^\.||' | sort | while read -r f; do \
	    case " $(CONFFILES) " in *" $$f "*) echo "%config(noreplace) $$f";; *) echo "$$f";; esac; done; \
	} > $(BUILD)/rpm/SPECS/$(NAME).spec
	rpmbuild --quiet -bb --define "_topdir $(BUILD)/rpm" --define "_rpmdir $(DIST)" \
	  --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
	  --define "_buildhost appliance-build" --define "use_source_date_epoch_as_buildtime 1" \
	  --define "clamp_mtime_to_source_date_epoch 1" --define "__os_install_post %{nil}" \
	  $(BUILD)/rpm/SPECS/$(NAME).spec
	chmod 0644 $@

clean:
	rm -rf $(BUILD) $(DIST)
