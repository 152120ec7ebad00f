# conf.examples/grafana-dashboard.json (no Grafana at hand): it parses,
# every query is PromQL that `promtool check rules` accepts (Grafana's
# variables replaced by values), and every metric a query names is a
# family the module exports: one the stats registry is given in
# src/nginx/ (a definition's name followed by its help), with a
# histogram's _bucket, _sum and _count; a label a query compares with a
# value (label="value") that is one of the family's dimensions must name
# one of the values the module gives it. The response cache has its panels.

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

# the dimensions' values: family => { label => { value => 1 } }, from
# ngx_http_gateway_stats_def_t definitions, their dim_t arrays and the
# ngx_str_t arrays of values those name
my %dims;
for my $file (glob "$top/src/nginx/*/*.c") {
    my $src = slurp($file);
    my %values;
    while ($src =~ /ngx_str_t\s+(\w+)\[\]\s*=\s*\{(.*?)\};/sg) {
        my ($array, $body) = ($1, $2);
        $values{$array} = { map { $_ => 1 } $body =~ /ngx_string\("([^"]*)"\)/g };
    }
    my %dim;
    while ($src =~ /ngx_http_gateway_stats_dim_t\s+(\w+)\[\]\s*=\s*\{(.*?)\};/sg) {
        my ($array, $body) = ($1, $2);
        $dim{$array} = { map { @$_ } map { [$_->[0] => $values{$_->[1]}] }
                         map { [ /ngx_string\("(\w+)"\),\s*(\w+)/ ] }
                         $body =~ /\{\s*(ngx_string\("\w+"\),\s*\w+)\s*\}/g };
    }
    while ($src =~ /ngx_http_gateway_stats_def_t\s+\w+\s*=\s*\{\s*ngx_string\("(gateway_\w+)"\)(.*?)\};/sg) {
        my ($family, $body) = ($1, $2);
        $dims{$family} = $dim{$1} if $body =~ /GW_METRIC_\w+,\s*\w+,\s*(\w+)/ && $dim{$1};
    }
}
ok($dims{gateway_cache_results_total}{status}{hit}, 'the dimensions are found in the sources')
    or diag(explain(\%dims));

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

for my $expr (@exprs) {
    while ($expr =~ /\b(gateway_\w+)\{([^}]*)\}/g) {
        my ($family, $matchers) = ($1, $2);
        while ($matchers =~ /(\w+)\s*!?=\s*"([^"]*)"/g) {
            my ($label, $value) = ($1, $2);
            next unless $dims{$family} && $dims{$family}{$label};
            ok($dims{$family}{$label}{$value}, "$family\{$label=\"$value\"\} can be exported");
        }
    }
}

my @cache = grep { /\bgateway_cache_results_total\{[^}]*status="hit"/ } @exprs;
ok(@cache, 'a panel shows the response cache\'s hits') or diag(join "\n", @exprs);

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
