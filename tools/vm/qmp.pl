#!/usr/bin/perl
# tools/vm/qmp.pl - one QMP exchange with a running QEMU, for the VM tests
# and benchmarks (QEMU started with -qmp unix:SOCK,server=on,wait=off).
#
#   qmp.pl SOCK JSON...   negotiate capabilities, send each JSON command in
#                         turn and print its one answer line ("return" or
#                         "error"), skipping the events QEMU sends between
#   qmp.pl SOCK --until STATE[,STATE...] JSON...
#                         the same, then wait (at most 60 s) for a
#                         MIGRATION event with one of the states (the
#                         commands should include migrate-set-capabilities
#                         with "events" on) and print that state: waiting
#                         on the event instead of polling query-migrate
#                         costs no round trip at the moment it matters
#
# Exits 1 when the socket cannot be reached, QEMU closes it early or the
# wait times out.
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;

my $path = shift or die "usage: qmp.pl SOCK [--until STATES] JSON...\n";
my %until;
if (@ARGV && $ARGV[0] eq '--until') {
	shift;
	%until = map { $_ => 1 } split /,/, shift;
}
my $s = IO::Socket::UNIX->new(Peer => $path) or die "qmp.pl: $path: $!\n";
my $sel = IO::Select->new($s);
my $buf = '';

# The next line QEMU sent, waiting at most until $deadline; undef: none.
sub line {
	my ($deadline) = @_;
	while ($buf !~ /\n/) {
		my $left = $deadline - time;
		return undef if $left <= 0 || !$sel->can_read($left);
		my $n = sysread($s, $buf, 65536, length $buf);
		return undef unless $n;
	}
	$buf =~ s/^([^\n]*\n)//;
	return $1;
}

my $l = line(time + 10);	# the greeting
exit 1 unless defined $l;
my ($first, $seen) = (1, '');
for my $c ('{"execute":"qmp_capabilities"}', @ARGV) {
	syswrite($s, "$c\n");
	while (defined($l = line(time + 60))) {
		last unless $l =~ /"event"/;
		$seen = $1 if $l =~ /"MIGRATION".*"status": *"([a-z-]+)"/;
	}
	exit 1 unless defined $l;
	print $l unless $first;
	$first = 0;
}
exit 0 unless %until;
my $deadline = time + 60;
while (!$until{$seen}) {
	defined($l = line($deadline)) or exit 1;
	$seen = $1 if $l =~ /"MIGRATION".*"status": *"([a-z-]+)"/;
}
print "$seen\n";
exit 0;
