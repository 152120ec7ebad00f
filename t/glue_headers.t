# nginx's headers come first in every file of the glue: the first #include
# of each file under src/nginx/ is <ngx_config.h>, or one of the glue's own
# headers whose first #include leads there. ngx_config.h defines what
# system headers depend on (_GNU_SOURCE, _FILE_OFFSET_BITS): an OpenSSL,
# hiredis or system header read before it breaks the build on nginx
# mainline (ngx_event_udp.h: "field 'pkt6' has incomplete type").

use strict;
use warnings;

use FindBin;
use File::Basename qw(basename);
use Test::More;

my $top = "$FindBin::Bin/..";
my @files = sort glob "$top/src/nginx/*/*.[ch]";
ok(@files, 'there are glue files');

my %path = map { basename($_) => $_ } @files;

sub first_include {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    while (<$fh>) {
        return $1 if /^\s*#\s*include\s+([<"][^>"]+[>"])/;
    }
    return undef;
}

# the chain of first includes from a file down to a header outside the glue
sub chain {
    my ($file, $seen) = @_;
    my $inc = first_include($file) // return ('(none)');
    my ($name) = $inc =~ /^"(.+)"$/;
    return ($inc) unless defined $name && $path{$name} && !$seen->{$name}++;
    return ($inc, chain($path{$name}, $seen));
}

for my $file (@files) {
    my @chain = chain($file, {});
    is($chain[-1], '<ngx_config.h>',
       "src/nginx/" . join('/', (split m{/}, $file)[-2, -1]) . ": nginx's headers first")
        or diag('first includes: ' . join(' -> ', @chain));
}

done_testing();
