#!/bin/sh
# Store setup, run by the setup Job on every install, upgrade and rollback:
# installs WordPress, updates its core to the wordpress image's release,
# installs, updates and activates WooCommerce, runs the database updates
# either needs, and makes sure the administrator exists. Every step checks
# before it acts, so running it on a working store changes nothing, and a
# run killed half-way is finished by the next.
#
# Credentials come from the environment (the store's Secret) and are never
# printed or passed as arguments: no `set -x`, and passwords reach wp-cli on
# stdin.
#
# Environment: STORE_URL, STORE_TITLE, ADMIN_USER, ADMIN_EMAIL,
# WP_ADMIN_PASSWORD, WOOCOMMERCE_VERSION (empty: latest),
# IMAGE_WORDPRESS_VERSION_FILE (holds the wordpress image's WordPress
# release; missing or empty: core is left as it is), the WORDPRESS_*
# variables of wp-config.php, and optionally WP_ROOT (default
# /var/www/html), WAIT_SECONDS and WP_CLI_MEMORY_LIMIT.
set -eu

WP_ROOT=${WP_ROOT:-/var/www/html}
WAIT_SECONDS=${WAIT_SECONDS:-600}
WP_CLI_MEMORY_LIMIT=${WP_CLI_MEMORY_LIMIT:-384M}
IMAGE_WORDPRESS_VERSION_FILE=${IMAGE_WORDPRESS_VERSION_FILE:-}

log() { printf '%s setup: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*"; }
die() {
	log "error: $*" >&2
	exit 1
}

# php-cli's default memory limit (128M) is too small for WooCommerce.
WP_BIN=$(command -v wp) || die "wp-cli is not in this image"
wp() { php -d memory_limit="$WP_CLI_MEMORY_LIMIT" "$WP_BIN" --path="$WP_ROOT" "$@"; }

# wait_for WHAT CHECK...: runs CHECK every 5 seconds until it succeeds, for
# at most WAIT_SECONDS.
wait_for() {
	what=$1
	shift
	waited=0
	until "$@" >/dev/null 2>&1; do
		if [ "$waited" -ge "$WAIT_SECONDS" ]; then
			die "$what not ready after ${WAIT_SECONDS}s"
		fi
		sleep 5
		waited=$((waited + 5))
	done
	log "$what ready"
}

# The wordpress container's entrypoint copies WordPress onto the shared
# volume and writes wp-config.php last.
files_ready() { [ -s wp-includes/version.php ] && [ -s wp-config.php ]; }

# Connects the way WordPress does (PHP mysqli, as the wordpress user), so it
# also waits for MariaDB's first-boot creation of the database and user.
# `wp db check` would go through the mariadb command-line client instead,
# whose TLS defaults vary between client and server versions.
db_ready() {
	php -r '
		mysqli_report(MYSQLI_REPORT_OFF);
		$hostPort = explode(":", getenv("WORDPRESS_DB_HOST"), 2);
		$db = @mysqli_connect($hostPort[0], getenv("WORDPRESS_DB_USER"),
			getenv("WORDPRESS_DB_PASSWORD"), getenv("WORDPRESS_DB_NAME"),
			(int) ($hostPort[1] ?? 3306));
		exit($db ? 0 : 1);
	'
}

# version_newer A B: whether release A is newer than release B, as PHP's
# version_compare orders WordPress releases: numeric parts first (6.10 >
# 6.9, 6.9 = 6.9.0), then a final release above anything with a suffix,
# suffixes ordered other < dev < alpha < beta < RC, then by their number.
version_newer() {
	a=$1 b=$2
	ar=${a%%-*} br=${b%%-*}
	while [ -n "$ar" ] || [ -n "$br" ]; do
		an=${ar%%.*} bn=${br%%.*}
		an=${an:-0} bn=${bn:-0}
		if [ "$an" -gt "$bn" ]; then return 0; fi
		if [ "$an" -lt "$bn" ]; then return 1; fi
		case $ar in *.*) ar=${ar#*.} ;; *) ar= ;; esac
		case $br in *.*) br=${br#*.} ;; *) br= ;; esac
	done
	ap= bp=
	case $a in *-*) ap=${a#*-} ;; esac
	case $b in *-*) bp=${b#*-} ;; esac
	[ "$ap" != "$bp" ] || return 1
	[ -n "$ap" ] || return 0
	[ -n "$bp" ] || return 1
	ak=$(prerelease_rank "$ap") bk=$(prerelease_rank "$bp")
	if [ "$ak" -ne "$bk" ]; then [ "$ak" -gt "$bk" ]; return; fi
	an=$(prerelease_number "$ap") bn=$(prerelease_number "$bp")
	[ "$an" -gt "$bn" ]
}
prerelease_rank() {
	case $1 in
	dev*) echo 0 ;;
	alpha* | a[0-9]*) echo 1 ;;
	beta* | b[0-9]*) echo 2 ;;
	RC* | rc*) echo 3 ;;
	*) echo -1 ;;
	esac
}
prerelease_number() {
	n=${1#"${1%%[0-9]*}"}
	n=${n%%[!0-9]*}
	echo "${n:-0}"
}

# is_release V: whether V looks like a release number, so that nothing else
# (a mirror's odd image) reaches wp-cli's --version.
is_release() {
	case $1 in
	'' | *[!0-9A-Za-z.-]* | [!0-9]*) return 1 ;;
	esac
	case ${1%%-*} in *[!0-9.]* | *..* | *.) return 1 ;; esac
	return 0
}

cd "$WP_ROOT" || die "the WordPress volume is not mounted at $WP_ROOT"

wait_for "WordPress files" files_ready
wait_for "database" db_ready

if wp core is-installed >/dev/null 2>&1; then
	log "WordPress is installed"
else
	log "installing WordPress at $STORE_URL"
	# The password goes in on stdin (--prompt), not as an argument, so it
	# never shows in the pod's process list.
	printf '%s\n' "$WP_ADMIN_PASSWORD" | wp core install --url="$STORE_URL" --title="$STORE_TITLE" \
		--admin_user="$ADMIN_USER" --admin_email="$ADMIN_EMAIL" --skip-email \
		--prompt=admin_password
	# WooCommerce wants pretty permalinks; the image's .htaccess serves them.
	# Only on a fresh install: afterwards this is the owner's choice.
	wp rewrite structure '/%postname%/'
fi

# The URL follows the store's host and scheme (an issuer added later turns
# http into https).
for option in home siteurl; do
	if [ "$(wp option get "$option")" != "$STORE_URL" ]; then
		log "setting $option to $STORE_URL"
		wp option update "$option" "$STORE_URL"
	fi
done

# Core. The wordpress image copies WordPress onto the volume only when the
# volume is empty, so a store made by an older image keeps its older core
# until it is updated here; never back to an older release, which the
# owner may have updated past from the dashboard.
installed=$(wp core version)
image=
if [ -n "$IMAGE_WORDPRESS_VERSION_FILE" ] && [ -s "$IMAGE_WORDPRESS_VERSION_FILE" ]; then
	image=$(cat "$IMAGE_WORDPRESS_VERSION_FILE")
fi
if ! is_release "$image"; then
	log "the wordpress image does not say its WordPress release: WordPress $installed is left as it is"
elif ! is_release "$installed"; then
	log "WordPress says it is release \"$installed\", which cannot be compared with the image's $image: it is left as it is"
elif version_newer "$image" "$installed"; then
	log "updating WordPress $installed to $image"
	wp core update --version="$image"
else
	log "WordPress $installed is current (the image has $image)"
fi

# The database follows the files: after the update above, or one that a
# killed run left half done. wp-includes/version.php says which database
# version the files need.
files_db=$(sed -n 's/^\$wp_db_version = \([0-9][0-9]*\);.*/\1/p' wp-includes/version.php)
if [ "$(wp option get db_version)" != "$files_db" ]; then
	log "updating the WordPress database to version ${files_db:-(unknown)}"
	wp core update-db
fi

if ! wp plugin is-installed woocommerce; then
	if [ -n "$WOOCOMMERCE_VERSION" ]; then
		log "installing WooCommerce $WOOCOMMERCE_VERSION"
		wp plugin install woocommerce --version="$WOOCOMMERCE_VERSION"
	else
		log "installing the latest WooCommerce"
		wp plugin install woocommerce
	fi
else
	current=$(wp plugin get woocommerce --field=version)
	if [ -n "$WOOCOMMERCE_VERSION" ] && [ "$current" != "$WOOCOMMERCE_VERSION" ]; then
		log "replacing WooCommerce $current with version $WOOCOMMERCE_VERSION"
		wp plugin install woocommerce --version="$WOOCOMMERCE_VERSION" --force
	else
		log "WooCommerce $current is installed"
	fi
fi

if wp plugin is-active woocommerce; then
	log "WooCommerce is active"
else
	log "activating WooCommerce"
	wp plugin activate woocommerce
fi

# WooCommerce's database migrations: its files and its database agree once
# they have run (activation on a new store records the version at once).
# Checked against the database rather than against what this run changed,
# so a run killed between the plugin update and the migrations is finished
# by the next.
wc_files=$(wp plugin get woocommerce --field=version)
wc_db=$(wp option get woocommerce_db_version 2>/dev/null) || wc_db=
if [ "$wc_db" != "$wc_files" ]; then
	log "updating WooCommerce's database from ${wc_db:-(none)} to $wc_files"
	wp wc update
fi

# `wp core install` creates the administrator; this brings it back if it was
# deleted. An existing administrator keeps the password its owner chose.
if wp user get "$ADMIN_USER" --field=ID >/dev/null 2>&1; then
	log "administrator $ADMIN_USER exists"
else
	log "creating administrator $ADMIN_USER"
	printf '%s\n' "$WP_ADMIN_PASSWORD" | wp user create "$ADMIN_USER" "$ADMIN_EMAIL" \
		--role=administrator --prompt=user_pass
fi

log "store ready at $STORE_URL"
