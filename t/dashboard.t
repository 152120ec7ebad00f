# conf.examples/grafana-dashboard.json (no Grafana at hand): it parses,
# every query is PromQL that `promtool check rules` accepts (Grafana's
# variables replaced by values), and every metric a query names is a
# family the module exports: one the stats registry is given in
# src/nginx/ (a definition's name followed by its help), with a
# histogram's _bucket, _sum and _count.

use strict;
use warnings;

use FindBin;
use File::Temp qw(tempfile);
use JSON::PP;
use Test::More;

my $top = "$FindBin::Bin/..";

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return <$fh>;
}

my $dashboard = eval { decode_json(slurp("$top/conf.examples/grafana-dashboard.json")) };
ok($dashboard, 'the dashboard is JSON') or diag($@);

# the families: { ngx_string("NAME"), ngx_string("help") ... } definitions,
# and the dropped-series counter the text renderer adds itself
my %exported;
for my $file (glob "$top/src/nginx/*/*.c") {
    my $src = slurp($file);
    $exported{$1} = 1
        while $src =~ /ngx_string\("(gateway_\w+)"\),\s*ngx_string\(/g;
    $exported{$1} = 1
        while $src =~ /\{\s*"(gateway_\w+)",\s*sizeof\("gateway_\w+"\)/g;
}
ok($exported{gateway_http_requests_total} && $exported{gateway_metrics_dropped_total},
   'the families are found in the sources') or diag(join ' ', sort keys %exported);

my @exprs;
my @panels = @{ $dashboard->{panels} // [] };
while (my $panel = shift @panels) {
    push @panels, @{ $panel->{panels} // [] };      # collapsed rows
    push @exprs, map { $_->{expr} } grep { defined $_->{expr} } @{ $panel->{targets} // [] };
}
for my $var (@{ $dashboard->{templating}{list} // [] }) {
    push @exprs, $var->{definition} if ($var->{type} // '') eq 'query';
}
cmp_ok(scalar @exprs, '>=', 10, 'the dashboard has queries');

for my $expr (@exprs) {
    my @names = $expr =~ /\b(gateway_\w+)/g;
    ok(@names, "names a gateway metric: $expr");
    for my $name (@names) {
        my $family = $name;
        $family =~ s/_(bucket|sum|count)$// unless $exported{$name};
        ok($exported{$family}, "$name is exported");
    }
}

# PromQL syntax, by promtool: each query as a recording rule
my @rules = grep { !/^label_values\(/ } @exprs;
my ($fh, $file) = tempfile(SUFFIX => '.yml', UNLINK => 1);
print $fh "groups:\n  - name: dashboard\n    rules:\n";
for my $i (0 .. $#rules) {
    (my $expr = $rules[$i]) =~ s/\$__rate_interval/5m/g;
    $expr =~ s/\$route/.*/g;
    $expr =~ s/'/''/g;
    print $fh "      - record: dashboard:query$i\n        expr: '$expr'\n";
}
close $fh;
my $out = `promtool check rules $file 2>&1`;
is($?, 0, 'promtool parses every query') or diag($out);

done_testing();
