# Every configuration in conf.examples/ passes `nginx -t` with the module,
# so the examples cannot drift from the directives.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use Test::More;

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my ($module) = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');

plan skip_all => 'TEST_NGINX_LOAD_MODULES names no module'
    unless $module && -f $module;

# the examples load modules/ngx_http_gateway_module.so from their prefix
my $prefix = tempdir(CLEANUP => 1);
mkdir "$prefix/$_" or die "$prefix/$_: $!" for qw(modules logs);
symlink abs_path($module), "$prefix/modules/ngx_http_gateway_module.so"
    or die "symlink: $!";

my @examples = glob 'conf.examples/*.conf';
ok(@examples, 'there are examples');

for my $conf (@examples) {
    my $path = abs_path($conf);
    my $out = `$nginx -t -p $prefix/ -c $path 2>&1`;
    is($?, 0, "$conf passes nginx -t") or diag $out;
}

done_testing();
