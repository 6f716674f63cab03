#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The man pages pvio ships (packaging/man), as TAP:
#   - each formats with `groff -man -ww -z -t` (and for a terminal, as man
#     shows it) without a single warning, under a .TH that names its file;
#   - pviod.conf.5 has an item for every key the configuration parser
#     (backend/core/config.c) and the device classes (backend/{net,blk,
#     balloon,echo}) accept, and no item for a key they do not;
#   - pviod.8 and pvioctl.8 have an item for every command-line option of
#     their program; pvioctl.8 one for every pvioctl command, and names
#     every request the daemon answers (backend/core/control.c, the classes);
#   - pvio.4 has an item for every module parameter of the guest modules
#     (module_param*() in frontend/*.c), under its module, and no other;
# The names come from the sources, so a key, option, command or parameter
# added there without its page fails here.  Each kind of check is also run
# once on a copy of a page with a fault put in, which must fail: these
# checks can fail.
set -eu
HERE=$(cd "$(dirname "$0")/../.." && pwd)
MAN=$HERE/packaging/man
BE=$HERE/backend
FE=$HERE/frontend
CTL=$HERE/userspace/pvioctl/pvioctl.c
TMP=$(mktemp -d /tmp/pvio-man-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $1"; }
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
# result NAME EXPECTED GOT: ok when they are equal, else both on # lines.
result() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		echo "# expected: $2"
		echo "# got:      $3"
		nok "$1"
	fi
}
words() { tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'; }

echo "1..13"

# ---- formatting ---------------------------------------------------------------

# lint PAGE: every warning groff gives, for the default device and for a
# terminal, plus a complaint when .TH does not name the file.
lint() {
	local page=$1 base th
	groff -man -ww -z -t "$page" 2>&1 || echo "groff exited with $?"
	groff -man -ww -z -t -Tutf8 "$page" 2>&1 || echo "groff -Tutf8 exited with $?"
	base=$(basename "$page")
	th=$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\) .*/\1.\2/p' "$page" | tr '[:upper:]' '[:lower:]')
	[ "$th" = "$base" ] || [ "$th" = "${base%.*}" ] ||
		echo ".TH says '$th', the file is '$base'"
}

if ! command -v groff >/dev/null; then
	for p in pviod.8 pviod.conf.5 pvioctl.8 pvio.4 pvio-psi-agent.8; do
		skip "$p formats without warnings" "no groff here (package groff-base)"
	done
	skip "a page with a bad macro fails the check" "no groff here"
else
	for p in pviod.8 pviod.conf.5 pvioctl.8 pvio.4 pvio-psi-agent.8; do
		if [ ! -f "$MAN/$p" ]; then
			result "$p formats without warnings" "the page" "no $MAN/$p"
			continue
		fi
		got=$(lint "$MAN/$p" | tr '\n' ' ' | sed 's/ $//')
		result "$p formats without warnings" "no warning" "${got:-no warning}"
	done
	{ cat "$MAN/pviod.8"; printf '.XY undefined macro\n'; } >"$TMP/pviod.8"
	got=$(lint "$TMP/pviod.8" | tr '\n' ' ')
	echo "# pviod.8 with '.XY' added: expected a warning, got: ${got:-none}"
	if [ -n "$got" ]; then ok "a page with a bad macro fails the check"; else nok "a page with a bad macro fails the check"; fi
fi

# ---- what the page lists ---------------------------------------------------------

# tags PAGE: one line per .TP item, "SECTION<tab>WORDS", WORDS being the
# item's tag line without macro, quotes and font escapes, split on what
# cannot be part of a key, option or command name.
tags() {
	awk '
	/^\.SH / { sec = $0; sub(/^\.SH +"?/, "", sec); sub(/"$/, "", sec) }
	prev == ".TP" {
		l = $0
		sub(/^\.[A-Z]+ */, "", l)
		gsub(/\\-/, "-", l)
		gsub(/\\f[BIRP]|\\c|\\&|"/, "", l)
		gsub(/[^A-Za-z0-9_.-]+/, " ", l)
		sub(/^ +/, "", l)
		print sec "\t" l
	}
	{ prev = $1 }' "$1"
}
# first_words PAGE [SECTION]: each item's first word (in SECTION only).
first_words() { tags "$1" | awk -F'\t' -v s="${2:-}" 's == "" || $1 == s { split($2, w, " "); print w[1] }'; }
# all_words PAGE: every word of every item tag.
all_words() { tags "$1" | cut -f2 | tr ' ' '\n' | sed '/^$/d'; }
# text_words PAGE: every word of the page, escapes undone.
text_words() { sed 's/\\-/-/g;s/\\f[BIRP]//g;s/\\[c&]//g' "$1" | tr -c 'A-Za-z0-9_-' '\n' | sed '/^$/d'; }
# missing WANTED HAVE: the words of WANTED that are not in HAVE.
missing() { comm -23 <(echo "$1" | tr ' ' '\n' | sed '/^$/d' | sort -u) <(echo "$2" | sort -u) | words; }

# The configuration keys: [pviod], [guest] and common device keys are
# compared in config.c (strcmp(k, "KEY")); class keys are fetched with
# pvbe_dev_param*() or a class's own helper around it.
CFG_KEYS=$(grep -ho 'strcmp(k, "[a-z_]*")' "$BE/core/config.c" | sed 's/.*"\(.*\)".*/\1/' | words)
CLASS_KEYS=$(cat "$BE"/net/*.c "$BE"/blk/*.c "$BE"/balloon/*.c "$BE"/echo/*.c |
	grep -oE '(pvbe_dev_param(_get|_bool)?|parse_bytes|parse_key_uint)\([^"();]*"[a-z_]+"' |
	sed 's/.*"\(.*\)"/\1/' | words)
KEYS=$(echo "$CFG_KEYS $CLASS_KEYS" | words)

# check_keys PAGE: "ok", or what is missing and what is extra.
check_keys() {
	local miss extra
	miss=$(missing "$KEYS" "$(first_words "$1")")
	# Items whose tag is "KEY = VALUE" document keys; others are types.
	extra=$(missing "$(tags "$1" | cut -f2 | grep -E '^[a-z_]+ ' | awk '{ print $1 }' |
		while read -r k; do grep -q "^\.[A-Z]* *\"\{0,1\}$k = " "$1" && echo "$k"; done | words)" \
		"$(echo "$KEYS" | tr ' ' '\n')")
	if [ -z "$miss" ] && [ -z "$extra" ]; then
		echo ok
	else
		echo "missing: ${miss:--}; not a key: ${extra:--}"
	fi
}

# The parser changing shape (issue 15 plans libinih) must not empty the
# list silently: config.c has 18 keys today, the classes 23.
nc=$(echo "$CFG_KEYS" | wc -w)
ncl=$(echo "$CLASS_KEYS" | wc -w)
echo "# keys from config.c ($nc): $CFG_KEYS"
echo "# keys from the device classes ($ncl): $CLASS_KEYS"
if [ "$nc" -lt 15 ] || [ "$ncl" -lt 20 ]; then
	result "pviod.conf.5 documents every configuration key" \
		"at least 15 keys from config.c and 20 from the classes" \
		"$nc and $ncl: the extraction in tests/man/lint.sh needs updating"
else
	result "pviod.conf.5 documents every configuration key" ok "$(check_keys "$MAN/pviod.conf.5")"
fi

# The same with the item of one key taken out.
gone=$(echo "$CFG_KEYS" | awk '{ print $1 }')
awk -v k="$gone" '
	$1 == ".TP" { held = $0; next }
	held != "" { if ($0 !~ "^\\.[A-Z]+ +\"?" k " = ") print held; held = "" }
	{ print }' "$MAN/pviod.conf.5" >"$TMP/pviod.conf.5"
got=$(check_keys "$TMP/pviod.conf.5")
echo "# pviod.conf.5 without the item for '$gone': expected '$gone' missing, got '$got'"
case " ${got%%;*} " in
*" $gone "*) ok "a page without a key fails the check" ;;
*) nok "a page without a key fails the check" ;;
esac

# Command-line options: the long ones from the struct option table, the
# short ones from getopt_long's string.
options() {
	{
		grep -oE '\{ "[a-z-]+", (no|required|optional)_argument' "$1" | sed 's/{ "\([^"]*\)".*/--\1/'
		grep -o 'getopt_long(argc, argv, "[^"]*"' "$1" | sed 's/.*"\(.*\)"/\1/' |
			tr -d ':' | sed 's/./-& /g'
	} | words
}

PVIOD_OPTS=$(options "$BE/core/pviod.c")
echo "# pviod options: $PVIOD_OPTS"
result "pviod.8 documents every option" "" "$(missing "$PVIOD_OPTS" "$(all_words "$MAN/pviod.8")")"

# pvioctl: options, commands (argv[0]) and their words (argv[1], argv[3]);
# the daemon's requests (control.c) and the classes' (backend/*/).
PVIOCTL_OPTS=$(options "$CTL")
CMDS=$(grep -o 'strcmp(argv\[0\], "[a-z-]*")' "$CTL" | sed 's/.*"\(.*\)".*/\1/' | words)
SUBS=$(grep -oE 'strcmp\(argv\[[13]\], "[a-z-]+"\)' "$CTL" | sed 's/.*"\(.*\)".*/\1/' | words)
REQS=$( {
	grep -o 'if (!strcmp(w\[0\], "[a-z-]*")' "$BE/core/control.c"
	cat "$BE"/net/*.c "$BE"/blk/*.c "$BE"/balloon/*.c | grep -oE 'strcmp\(argv\[[01]\], "[a-z-]+"\)'
} | sed 's/.*"\(.*\)".*/\1/' | grep -v '^test-' | words)
echo "# pvioctl options: $PVIOCTL_OPTS"
echo "# pvioctl commands: $CMDS; their words: $SUBS"
echo "# daemon requests: $REQS"

# check_ctl PAGE: "ok", or what is missing.
check_ctl() {
	local a b c d
	a=$(missing "$PVIOCTL_OPTS" "$(all_words "$1")")
	b=$(missing "$CMDS" "$(first_words "$1" COMMANDS)")
	c=$(missing "$SUBS" "$(tags "$1" | awk -F'\t' '$1 == "COMMANDS"' | cut -f2 | tr ' ' '\n')")
	d=$(missing "$REQS" "$(text_words "$1")")
	if [ -z "$a$b$c$d" ]; then
		echo ok
	else
		echo "missing options: ${a:--}; commands: ${b:--}; words: ${c:--}; requests: ${d:--}"
	fi
}
if [ "$(echo "$CMDS" | wc -w)" -lt 8 ] || [ "$(echo "$REQS" | wc -w)" -lt 5 ]; then
	result "pvioctl.8 documents every option, command and request" \
		"at least 8 commands from pvioctl.c and 5 requests" \
		"'$CMDS' and '$REQS': the extraction in tests/man/lint.sh needs updating"
else
	result "pvioctl.8 documents every option, command and request" ok "$(check_ctl "$MAN/pvioctl.8")"
fi

# The same with the item of one command taken out.
gone=$(echo "$CMDS" | awk '{ print $1 }')
awk -v c="$gone" '
	$1 == ".TP" { held = $0; next }
	held != "" { l = $0; gsub(/\\-/, "-", l); if (l !~ "^\\.[A-Z]+ +" c "( |$)") print held; held = "" }
	{ print }' "$MAN/pvioctl.8" >"$TMP/pvioctl.8"
got=$(check_ctl "$TMP/pvioctl.8")
echo "# pvioctl.8 without the item for '$gone': expected '$gone' among the missing commands, got '$got'"
got=${got#*commands: }
case " ${got%%;*} " in
*" $gone "*) ok "a page without a command fails the check" ;;
*) nok "a page without a command fails the check" ;;
esac

# ---- pvio.4: module parameters --------------------------------------------------

# module_params: "MODULE.NAME" for every module_param*() in frontend/*.c
# (module_param, _named, _array, _cb, _string...: the name the user sees is
# the first argument), the module found from the object lists of
# frontend/Kbuild ("?" for a file no module is built from).
module_params() {
	local f base mod
	for f in "$FE"/*.c; do
		base=$(basename "$f" .c)
		mod=$(sed -n "s/^\([a-z0-9_]*\)-y *[:+]\{0,1\}=.*[ =]$base\.o\( .*\)\{0,1\}\$/\1/p" "$FE/Kbuild" | head -n 1)
		[ -n "$mod" ] || mod=$(sed -n "s/^obj-m *+= *\($base\)\.o *\$/\1/p" "$FE/Kbuild")
		tr '\n' ' ' <"$f" |
			grep -oE '(^|[^A-Za-z0-9_])module_param(_[a-z_]+)?[[:space:]]*\([[:space:]]*[A-Za-z_][A-Za-z0-9_]*' |
			sed -E 's/.*\([[:space:]]*//' | sed "s/^/${mod:-?}./"
	done | words
}
# page_params PAGE: "MODULE.NAME" for every item of the MODULE PARAMETERS
# section, MODULE being the .SS it is under and NAME its tag's first word.
page_params() {
	awk '
	/^\.SH / { sec = $0; sub(/^\.SH +"?/, "", sec); sub(/"$/, "", sec); ss = "" }
	/^\.SS / { ss = $0; sub(/^\.SS +"?/, "", ss); sub(/"$/, "", ss) }
	prev == ".TP" && sec == "MODULE PARAMETERS" {
		l = $0
		sub(/^\.[A-Z]+ */, "", l)
		gsub(/\\-/, "-", l)
		gsub(/\\f[BIRP]|\\c|\\&|"/, "", l)
		gsub(/[^A-Za-z0-9_]+/, " ", l)
		sub(/^ +/, "", l)
		split(l, w, " ")
		print ss "." w[1]
	}
	{ prev = $1 }' "$1" | words
}

# Three parameters today.  The comparison goes both ways (an item for a
# name the extraction missed fails too), so this only catches an
# extraction that finds next to nothing.
PARAMS=$(module_params)
np=$(echo "$PARAMS" | wc -w)
echo "# module parameters from frontend/*.c ($np): $PARAMS"
if [ ! -f "$MAN/pvio.4" ]; then
	result "pvio.4 documents every module parameter" "the page" "no $MAN/pvio.4"
elif [ "$np" -lt 2 ]; then
	result "pvio.4 documents every module parameter" \
		"at least 2 parameters from frontend/*.c" \
		"$np ('$PARAMS'): the extraction in tests/man/lint.sh needs updating"
else
	result "pvio.4 documents every module parameter" "$PARAMS" "$(page_params "$MAN/pvio.4")"
fi

# The same with the item of one parameter taken out.
gone=$(echo "$PARAMS" | awk '{ print $1 }')
if [ -z "$gone" ] || [ ! -f "$MAN/pvio.4" ]; then
	result "a page without a parameter fails the check" "a parameter and the page" \
		"parameter '${gone:-none}', page $MAN/pvio.4"
else
	awk -v p="${gone#*.}" '
		$1 == ".TP" { held = $0; next }
		held != "" {
			l = $0
			sub(/^\.[A-Z]+ +"?/, "", l)
			if (l !~ "^(\\\\f[BI])?" p "([^A-Za-z0-9_]|$)") print held
			held = ""
		}
		{ print }' "$MAN/pvio.4" >"$TMP/pvio.4"
	got=$(page_params "$TMP/pvio.4")
	echo "# pvio.4 without the item for '$gone': expected '$gone' gone from '$PARAMS', got '$got'"
	case " $got " in
	*" $gone "*) nok "a page without a parameter fails the check" ;;
	*) ok "a page without a parameter fails the check" ;;
	esac
fi
[ "$failed" -eq 0 ]
