# Sourced by the set-up scripts: `apt_install LABEL PACKAGE…` installs the Debian/Ubuntu packages
# that are missing (with sudo when not root) and says what it did; where apt-get is absent it
# names the missing packages and fails. Safe to run again: installed packages are left alone.
apt_install() {
  local label=$1
  shift
  local need=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
  done
  if [ ${#need[@]} -eq 0 ]; then
    echo "$label: $* already installed"
    return 0
  fi
  if ! command -v apt-get >/dev/null; then
    echo "$label: missing ${need[*]}; install them with your package manager" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "$label: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  echo "$label: done"
}
