#!/usr/bin/perl
# tools/vm/qmp.pl - one QMP exchange with a running QEMU, for the VM tests
# and benchmarks (QEMU started with -qmp unix:SOCK,server=on,wait=off).
#
#   qmp.pl SOCK JSON...   negotiate capabilities, send each JSON command in
#                         turn and print its one answer line ("return" or
#                         "error"), skipping the events QEMU sends between
#
# Exits 1 when the socket cannot be reached or QEMU closes it early.
use strict;
use warnings;
use IO::Socket::UNIX;

my $path = shift or die "usage: qmp.pl SOCK JSON...\n";
my $s = IO::Socket::UNIX->new(Peer => $path) or die "qmp.pl: $path: $!\n";
my $l = <$s>;	# the greeting
my $first = 1;
for my $c ('{"execute":"qmp_capabilities"}', @ARGV) {
	print $s "$c\n";
	while (defined($l = <$s>)) {
		last unless $l =~ /"event"/;
	}
	exit 1 unless defined $l;
	print $l unless $first;
	$first = 0;
}
