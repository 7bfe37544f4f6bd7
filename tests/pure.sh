#!/bin/sh
# The parsers are pure: bytes in, a result out. `make check` runs this on
# each (NAME.c, its header and NAME.o, from the top of the tree), and it
# fails when one
#   - includes a header of ours that is not a parser's: a parser sees no
#     socket, option, lock or log;
#   - defines writable data, a global or a static: the same bytes give the
#     same result on any thread, at any time;
#   - calls a function that is neither a parser's nor one of the C
#     library's that only compute: nothing reads, writes, allocates,
#     sleeps or locks.
# usage: sh tests/pure.sh NAME...
set -u

# the headers that parsers may include, and the symbols of the C library
# (and of the compiler's support code) that they may call
# rd.h: the read cursor, header only
headers=" $* rd "
libc='memchr memcmp memcpy memmove memset strchr strcmp strcspn strlen strncmp
strnlen strrchr strspn strstr snprintf vsnprintf inet_ntop inet_pton strtol
strtoll strtoul strtoull gmtime_r localtime_r strftime __errno_location
__ctype_b_loc __ctype_tolower_loc __ctype_toupper_loc tolower toupper
isdigit isxdigit isalpha isalnum isspace __isoc99_sscanf htons ntohs htonl
ntohl in6addr_any
in6addr_loopback'
fail=0

bad() {
	echo "tests/pure.sh: $1: $2"
	fail=1
}

for name in "$@"; do
	src=$name.c
	obj=$name.o
	[ -f "$src" ] && [ -f "$obj" ] || { bad "$name" "no $src or $obj"; continue; }
	files="$src"
	[ -f "$name.h" ] && files="$files $name.h"
	for inc in $(sed -n 's/^#include "\(.*\)\.h"$/\1/p' $files | sort -u); do
		case $headers in
		*" $inc "*) ;;
		*) bad "$name" "includes $inc.h, which is not a parser's" ;;
		esac
	done
	# writable data: in .data, .bss and their kin, or common; what is
	# written only by the loader's relocations (.data.rel.ro) is const
	data=$(nm -f sysv "$obj" | awk -F'|' '
		{ s = $7; gsub(/ /, "", s); c = $3; gsub(/ /, "", c) }
		c == "C" || s ~ /^\.(data|bss|tdata|tbss|sdata|sbss)/ && s !~ /^\.data\.rel\.ro/ {
			n = $1; gsub(/ /, "", n); print n }')
	[ -z "$data" ] || bad "$name" "writable data: $(echo $data)"
	for sym in $(nm -P -u "$obj" | awk '{ print $1 }'); do
		case " $(echo $libc) " in
		*" $sym "*) continue ;;
		esac
		case $sym in
		__*_chk | __stack_chk_* | _GLOBAL_OFFSET_TABLE_ | __*di3 | __*si3 | \
		__aeabi_* | __x86.get_pc_thunk.*) continue ;;
		esac
		# another parser's function
		for other in "$@"; do
			if nm -P --defined-only "$other.o" | awk '$2 == "T" { print $1 }' |
				grep -qx "$sym"; then
				continue 2
			fi
		done
		bad "$name" "calls $sym"
	done
done
exit $fail
