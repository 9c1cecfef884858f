#!/bin/sh
# Store setup, run by the setup Job on every install, upgrade and rollback:
# installs WordPress, installs and activates WooCommerce and makes sure the
# administrator exists. Every step checks before it acts, so running it on a
# working store changes nothing.
#
# Credentials come from the environment (the store's Secret) and are never
# printed or passed as arguments: no `set -x`, and passwords reach wp-cli on
# stdin.
#
# Environment: STORE_URL, STORE_TITLE, ADMIN_USER, ADMIN_EMAIL,
# WP_ADMIN_PASSWORD, WOOCOMMERCE_VERSION (empty: latest), the WORDPRESS_*
# variables of wp-config.php, and optionally WAIT_SECONDS and
# WP_CLI_MEMORY_LIMIT.
set -eu

WAIT_SECONDS=${WAIT_SECONDS:-600}
WP_CLI_MEMORY_LIMIT=${WP_CLI_MEMORY_LIMIT:-384M}

log() { printf '%s setup: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*"; }
die() {
	log "error: $*" >&2
	exit 1
}

# php-cli's default memory limit (128M) is too small for WooCommerce.
WP_BIN=$(command -v wp) || die "wp-cli is not in this image"
wp() { php -d memory_limit="$WP_CLI_MEMORY_LIMIT" "$WP_BIN" --path=/var/www/html "$@"; }

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

cd /var/www/html || die "the WordPress volume is not mounted at /var/www/html"

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

if ! wp plugin is-installed woocommerce; then
	if [ -n "$WOOCOMMERCE_VERSION" ]; then
		log "installing WooCommerce $WOOCOMMERCE_VERSION"
		wp plugin install woocommerce --version="$WOOCOMMERCE_VERSION"
	else
		log "installing the latest WooCommerce"
		wp plugin install woocommerce
	fi
elif [ -n "$WOOCOMMERCE_VERSION" ] &&
	[ "$(wp plugin get woocommerce --field=version)" != "$WOOCOMMERCE_VERSION" ]; then
	log "replacing WooCommerce with version $WOOCOMMERCE_VERSION"
	wp plugin install woocommerce --version="$WOOCOMMERCE_VERSION" --force
else
	log "WooCommerce is installed"
fi

if wp plugin is-active woocommerce; then
	log "WooCommerce is active"
else
	log "activating WooCommerce"
	wp plugin activate woocommerce
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
