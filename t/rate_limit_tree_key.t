# A rate-limit node is told apart from others by its tree key (the whole
# 64-bit hash of its key), its length and the key bytes past the first 8:
# a platform whose ngx_rbtree_key_t is narrower would let two keys share
# counters. The glue must refuse to compile there: this compiles the zone's
# file as nginx's build does, with a 32-bit ngx_rbtree_key_t
# (t/tree_key_32/ngx_rbtree.h), and expects the assertion to stop it.
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $module = $ENV{TEST_NGINX_LOAD_MODULES} // '';
my $build = $module ? dirname(abs_path($module)) : '';
my $tree = "$build/nginx";

plan skip_all => "no nginx build tree next to TEST_NGINX_LOAD_MODULES"
    unless $build && -f "$tree/objs/Makefile";

my $obj = 'objs/addon/rate_limit/ngx_http_gateway_rate_limit_zone.o';
my $make = `make -s -n -B -C $tree -f objs/Makefile $obj 2>/dev/null`;
$make =~ s/\\\n\s*/ /g;
my ($cmd) = grep { /\s-c\s/ } split /\n/, $make;
ok($cmd, "nginx's build compiles the zone's file") or BAIL_OUT('no compile command');

my $shadow = dirname(abs_path(__FILE__)) . '/tree_key_32';

sub compile {
    my ($extra) = @_;
    (my $c = $cmd) =~ s{\s-c\s}{ $extra -fsyntax-only -c };
    $c =~ s{\s-o\s+\S+}{ };
    my $out = `cd $tree && $c 2>&1`;
    return ($? == 0, $out);
}

my ($ok, $out) = compile('');
ok($ok, 'it compiles with nginx\'s own ngx_rbtree_key_t') or diag $out;

($ok, $out) = compile("-I$shadow");
ok(!$ok, 'it does not compile with a 32-bit ngx_rbtree_key_t');
like($out, qr/64-bit ngx_rbtree_key_t/, 'the assertion says why');

done_testing();
