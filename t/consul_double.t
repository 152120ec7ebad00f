# The Consul API double (t/consul/consul_double.py) against Consul's
# documentation: its reply for the documented sample registration holds the
# documented sample response (t/consul/health-service-sample.json, from
# api-docs/health "List Nodes for Service"), blocking queries, passing and
# tag filters, ACL answers, framing, and every fault switch.
#
# Ports: TEST_NGINX_CONSUL_PORT (default: the server port + 20) and + 1.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/consul";

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(WNOHANG);
use ConsulDouble;

plan skip_all => 'python3 is not installed' unless ConsulDouble::python();

my $base = $ENV{TEST_NGINX_CONSUL_PORT}
    || ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984) + 20;

my $consul = ConsulDouble->new(port => $base)->start;
my $json = JSON::PP->new->canonical;

sub body { my $r = shift; return decode_json($r->{content}) }

sub index_of { my $r = shift; return $r->{headers}{'x-consul-index'} }

# what of $got the sample shows: the same keys, recursively (Consul adds
# CreateIndex, ModifyIndex and more); checks compared in CheckID order
sub prune {
    my ($got, $want) = @_;
    if (ref $want eq 'HASH') {
        return $got unless ref $got eq 'HASH';
        return { map { exists $got->{$_} ? ($_ => prune($got->{$_}, $want->{$_})) : () }
                 keys %$want };
    }
    if (ref $want eq 'ARRAY') {
        return $got unless ref $got eq 'ARRAY' && @$got == @$want;
        return [ map { prune($got->[$_], $want->[$_]) } 0 .. $#$want ];
    }
    return $got;
}

sub by_check_id {
    my $entries = shift;
    $_->{Checks} = [ sort { $a->{CheckID} cmp $b->{CheckID} } @{ $_->{Checks} } ]
        for @$entries;
    return $entries;
}

subtest 'the documented sample' => sub {
    open my $fh, '<', "$FindBin::Bin/consul/health-service-sample.json" or die $!;
    my $sample = decode_json(do { local $/; <$fh> });
    my $e = $sample->[0];
    my ($node, $service) = ($e->{Node}, $e->{Service});
    $consul->write_request('/v1/catalog/register', {
        ID => $node->{ID}, Node => $node->{Node}, Address => $node->{Address},
        Datacenter => $node->{Datacenter},
        TaggedAddresses => $node->{TaggedAddresses}, NodeMeta => $node->{Meta},
        Service => { map { $_ => $service->{$_} }
                     qw(ID Service Tags Address TaggedAddresses Meta Port Weights) },
        Checks => [ map { { CheckID => $_->{CheckID}, Name => $_->{Name},
                            Status => $_->{Status}, ServiceID => $_->{ServiceID} } }
                    @{ $e->{Checks} } ],
    });

    my $r = $consul->health('redis');
    is $r->{status}, 200, 'found';
    like $r->{headers}{'content-type'}, qr{^application/json}, 'JSON';
    my $got = body($r);
    is $json->encode(by_check_id(prune($got, $sample))),
       $json->encode(by_check_id($sample)),
       'the reply holds the documented sample, types included';
    ok defined $got->[0]{Service}{ModifyIndex}, 'and the indexes Consul adds';
    ok index_of($r) >= 1, 'X-Consul-Index';
    is $r->{headers}{'x-consul-knownleader'}, 'true', 'X-Consul-KnownLeader';
    is $r->{headers}{'x-consul-lastcontact'}, '0', 'X-Consul-LastContact';

    is_deeply body($consul->health('redis', 'passing=true&tag=primary')),
              $got, 'passing, tagged';
    is_deeply body($consul->health('redis', 'tag=PRIMARY')), $got,
              'tags match without regard to case';
    is_deeply body($consul->health('redis', 'tag=replica')), [], 'other tag';
    is_deeply body($consul->health('nothing')), [], 'unknown service: []';
};

subtest 'passing filter and index' => sub {
    my $i0 = index_of($consul->health('web'));
    $consul->register(id => 'web-1', port => 8081, weight => 3);
    my $r = $consul->health('web', 'passing');
    my $i1 = index_of($r);
    cmp_ok $i1, '>', $i0, 'the index moves with a registration';
    is scalar @{ body($r) }, 1, 'one instance';
    is body($r)->[0]{Service}{Weights}{Passing}, 3, 'its weight';

    $consul->check('web-1', 'critical');
    is scalar @{ body($consul->health('web', 'passing=true')) }, 0,
       'critical: filtered by passing';
    is scalar @{ body($consul->health('web', 'passing=false')) }, 1,
       'not without it';
    my $i2 = index_of($consul->health('web'));
    cmp_ok $i2, '>', $i1, 'a check flip moves the index';
    is index_of($consul->health('redis')) < $i2, 1,
       'another service keeps its own index';
    $consul->check('web-1', 'passing');

    is $consul->health('web', 'passing=maybe')->{status}, 400, 'bad passing';
    is $consul->health('web', 'index=x')->{status}, 400, 'bad index';
    is $consul->health('web', 'index=1&wait=5x')->{status}, 400, 'bad wait';
    my $dc = $consul->health('web', 'dc=mars');
    is $dc->{status}, 500, 'unknown datacenter';
    is $dc->{content}, 'No path to datacenter', 'as Consul says it';
    is $consul->health('web', 'dc=dc1')->{status}, 200, 'its own datacenter';
};

subtest 'blocking queries' => sub {
    my $index = index_of($consul->health('web'));
    my $t0 = time;
    my $r = $consul->health('web', "index=$index&wait=1s");
    my $took = time - $t0;
    cmp_ok $took, '>=', 0.95, 'waits for the wait when nothing changes';
    is index_of($r), $index, 'and returns the same index';

    # a change ends the wait at once: a blocked query in a child process
    $consul->clear_requests;
    pipe my $rd, my $wr or die $!;
    my $pid = fork;
    if ($pid == 0) {
        close $rd;
        my $r = $consul->health('web', "index=$index&wait=120s");
        print $wr index_of($r), ' ', scalar @{ decode_json($r->{content}) }, "\n";
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    my $deadline = time + 30;
    sleep 0.05 until @{ $consul->requests } || time > $deadline;
    ok scalar @{ $consul->requests }, 'the blocking query arrived';
    $t0 = time;
    $consul->register(id => 'web-2', port => 8082);
    my $line = <$rd>;
    waitpid $pid, 0;
    my ($new, $count) = split ' ', $line;
    cmp_ok time - $t0, '<', 60, 'returned on the change, not at the wait';
    cmp_ok $new, '>', $index, 'with a newer index';
    is $count, 2, 'and the new instance';

    $t0 = time;
    $consul->health('web', 'wait=10s');
    cmp_ok time - $t0, '<', 9, 'no index: no blocking';
};

subtest 'framing as Go sends it' => sub {
    my $small = $consul->health('web');
    ok $small->{headers}{'content-length'}, 'a short body has a Content-Length';
    $consul->register(id => "big-$_", service => 'big', port => 9000 + $_)
        for 1 .. 20;
    my $big = $consul->health('big');
    is $big->{headers}{'transfer-encoding'}, 'chunked', 'a long body is chunked';
    is scalar @{ body($big) }, 20, 'and whole';
};

subtest 'faults' => sub {
    my $index = index_of($consul->health('web'));

    $consul->fault('error500');
    is $consul->health('web')->{status}, 500, 'error500';
    $consul->fault('error500', 0);

    $consul->fault('malformed');
    my $r = $consul->health('web');
    is $r->{status}, 200, 'malformed: 200';
    ok !eval { decode_json($r->{content}); 1 }, 'with a body that is not JSON';
    $consul->fault('malformed', 0);

    $consul->fault('index_zero');
    is index_of($consul->health('web')), '0', 'index_zero';
    $consul->fault('index_zero', 0);

    $consul->fault('no_index');
    ok !exists $consul->health('web')->{headers}{'x-consul-index'}, 'no_index';
    $consul->fault('no_index', 0);

    $consul->fault('never_block');
    my $t0 = time;
    $r = $consul->health('web', "index=$index&wait=30s");
    cmp_ok time - $t0, '<', 20, 'never_block answers at once';
    $consul->fault('never_block', 0);

    $consul->fault('empty_service_address');
    is body($consul->health('web'))->[0]{Service}{Address}, '',
       'empty_service_address';
    $consul->fault('empty_service_address', 0);

    $consul->fault('ipv6');
    is body($consul->health('web'))->[0]{Service}{Address}, '::1', 'ipv6';
    $consul->fault('ipv6', 0);

    $consul->fault('missing_checks');
    ok !exists body($consul->health('web'))->[0]{Checks}, 'missing_checks';
    $consul->fault('missing_checks', 0);

    $consul->fault('duplicates');
    is scalar @{ body($consul->health('web')) }, 4, 'duplicates';
    $consul->fault('duplicates', 0);

    $consul->fault('tiny_chunks');
    $r = $consul->health('web');
    is $r->{headers}{'transfer-encoding'}, 'chunked', 'tiny_chunks';
    is scalar @{ body($r) }, 2, 'still whole';
    $consul->fault('tiny_chunks', 0);

    $consul->fault('close');
    $r = $consul->health('web');
    is $r->{status}, 599, 'close: no answer';
    $consul->fault('close', 0);

    $consul->fault('hang');
    my $quick = HTTP::Tiny->new(timeout => 2);
    $r = $quick->get($consul->url('/v1/health/service/web'));
    is $r->{status}, 599, 'hang: no answer';
    like $r->{content}, qr/timed out/i, 'until the client gives up';
    $consul->fault('hang', 0);
    is $consul->health('web')->{status}, 200, 'faults switch off';

    $consul->reset_index(3);
    my $low = index_of($consul->health('web'));
    cmp_ok $low, '<', $index, 'reset-index sends the index backwards';
    $consul->register(id => 'web-3', port => 8083);
    my $grown = index_of($consul->health('web'));
    cmp_ok $grown, '>', $low, 'and it grows from there';

    $consul->fault('error500');
    $consul->clear;
    $r = $consul->health('web');
    is $r->{status}, 200, 'clear: no fault';
    is_deeply body($r), [], 'no instance';
    cmp_ok index_of($r), '>', $grown, 'and a newer index';
    is scalar @{ $consul->requests }, 1, 'only this query seen';
    $consul->register(id => 'web-1', port => 8081);
    $consul->register(id => 'web-2', port => 8082);
};

subtest 'ACL tokens' => sub {
    my $acl = ConsulDouble->new(port => $base + 1,
                                tokens => ['mgmt=write', 'reader=web'])->start;
    $acl->register(id => 'web-1', port => 8081);
    $acl->register(id => 'api-1', service => 'api', port => 8091);

    my $r = $acl->health('web', undef, 'X-Consul-Token' => 'nope');
    is $r->{status}, 403, 'an unknown token: 403';
    is $r->{content}, 'ACL not found', 'ACL not found';

    $r = $acl->health('web');
    is $r->{status}, 200, 'no token: the anonymous policy';
    is_deeply body($r), [], 'which reads nothing';
    ok !$r->{headers}{'x-consul-results-filtered-by-acls'},
       'and is not told so';

    $r = $acl->health('web', undef, 'X-Consul-Token' => 'reader');
    is scalar @{ body($r) }, 1, 'a token that may read the service';
    $r = $acl->health('web', undef, Authorization => 'Bearer reader');
    is scalar @{ body($r) }, 1, 'as a bearer token too';
    $r = $acl->health('web', 'token=reader');
    is scalar @{ body($r) }, 1, 'and as ?token=';

    $r = $acl->health('api', undef, 'X-Consul-Token' => 'reader');
    is_deeply body($r), [], 'one that may not: filtered';
    is $r->{headers}{'x-consul-results-filtered-by-acls'}, 'true',
       'X-Consul-Results-Filtered-By-ACLs';

    $r = $acl->request('PUT', '/v1/catalog/deregister',
                       { Node => 'node-web-1', ServiceID => 'web-1' },
                       'X-Consul-Token' => 'reader');
    is $r->{status}, 403, 'a write without the right';
    is $r->{content}, 'Permission denied', 'Permission denied';
    is $acl->requests->[0]{token}, 'nope', 'requests are logged with their token';
    $acl->stop;
};

$consul->stop;
done_testing;
