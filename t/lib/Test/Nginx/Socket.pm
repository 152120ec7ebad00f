package Test::Nginx::Socket;

# Local, self-contained work-alike of CPAN's Test::Nginx::Socket
# (openresty/test-nginx), used only when the real one is not installed.
# See t/lib/README for what is supported and how it differs.

use v5.10.1;
use Test::Base -base;

our $VERSION = '0.33_local';

use Time::HiRes qw(sleep time);
use Digest::MD5 ();
use Digest::SHA ();

use Test::Nginx::Util;
use Test::Nginx::Client ();

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test
    repeat_each config_preamble worker_connections
    master_process_enabled
    no_long_string workers master_on master_off
    log_level no_shuffle shuffle no_root_location use_hup
    server_name
    server_addr server_root html_dir server_port server_port_for_client
    timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler add_cleanup_handler
    add_response_body_check
);

$Test::Nginx::Util::RunTestHelper = \&run_test_helper;
$Test::Nginx::Util::CheckErrorLog = \&check_error_log;
$Test::Nginx::Util::IsStr = \&is_str;

our @ResponseBodyChecks;
my %Noted;

sub add_response_body_check ($) {
    push @ResponseBodyChecks, shift;
}

sub _note_once ($$) {
    my ($key, $msg) = @_;
    return if $Noted{$key}++;
    Test::More::diag($msg);
}

#--------------------------------------------------------------------------
# string comparison with readable failure output
#--------------------------------------------------------------------------

sub _esc ($) {
    my $s = shift;
    return 'undef' unless defined $s;
    $s =~ s/([\\"])/\\$1/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/([\0-\037\177])/sprintf('\x%02x', ord $1)/ge;
    return "\"$s\"";
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }

    my $ok = Test::More::is($got, $expected, $desc);
    if (!$ok && defined $got && defined $expected) {
        my @more;
        if (!$NoLongString && ($got =~ /\n./s || $expected =~ /\n./s)
            && eval { require Text::Diff; 1 })
        {
            push @more, "diff (- expected, + got):\n"
                . Text::Diff::diff(\$expected, \$got, { STYLE => 'Unified' });
        }
        push @more, "expected (escaped): " . _esc($expected),
                    "got      (escaped): " . _esc($got)
            if $expected =~ /[\r\t\0-\010\013-\037]|\s$/ || $got =~ /[\r\t\0-\010\013-\037]|\s$/
               || length($got) == length($expected);
        Test::More::diag(join "\n", @more) if @more;
    }
    return $ok;
}

#--------------------------------------------------------------------------
# building requests
#--------------------------------------------------------------------------

sub _expand_note ($$$) {
    my ($text, $name, $what) = @_;
    return $text unless defined $text && !ref $text && $text =~ /\$TEST_NGINX_/;
    my $new = expand_env_in_text($text, $name);
    _note_once("expand-$what",
               "NOTE: \$TEST_NGINX_* variables expanded in --- $what; CPAN "
               . "Test::Nginx does not expand them there")
        if $new ne $text;
    return $new;
}

sub parse_more_headers ($) {
    my $in = shift // '';
    my $out = '';
    my $is_chunked;
    for my $line (split /\n+/, $in) {
        next if $line =~ /^\s*#/;
        next if $line !~ /\S/;
        my ($k, $v) = split /:\s*/, $line, 2;
        $v = '' unless defined $v;
        $v =~ s/\r$//;
        $is_chunked = 1 if lc($k) eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $is_chunked);
}

# Build one HTTP request from a "--- request"-style text split in packets.
# Returns a list of packets (hash refs with value / delay_before).
sub build_request ($$$$) {
    my ($name, $more_headers, $conn, $packets) = @_;

    my @orig = map { ref $_ ? $_ : { value => $_ } } @$packets;
    my $text = join '', map { $_->{value} // '' } @orig;

    # leading blank lines and "#" comment lines are ignored
    my $skipped = 0;
    while ($text =~ s/^(\s*\#[^\n]+\s+|\s+)//s) {
        $skipped += length $1;
    }

    my ($first, $content);
    if ($text =~ /\A([^\n]*)\n(.*)\z/s) {
        ($first, $content) = ($1, $2);
    } else {
        ($first, $content) = ($text, '');
    }
    my $first_len = length($first) + ($text =~ /\n/ ? 1 : 0);
    $first =~ s/\s+$//;
    bail_out("$name - Request line should be non-empty") if $first eq '';
    my @tok = split ' ', $first;
    bail_out("$name - Request line is not valid. Should be 'meth [url "
             . "[version]]' but got \"$first\".") if @tok > 3;
    my ($meth, $url, $ver) = @tok;
    $url //= '/';
    $ver //= 'HTTP/1.1';

    my ($hdrs, $is_chunked) = parse_more_headers($more_headers);

    my $body_trim_lead = 0;
    my $len_header = '';
    if (!$is_chunked && $content ne '' && $hdrs !~ /(?:^|\n)Content-Length:/i) {
        ($body_trim_lead) = map { length } $content =~ /\A(\s*)/;
        $content =~ s/^\s+|\s+$//gs;
        $len_header = 'Content-Length: ' . length($content) . "\r\n";
    }

    my $head = "$meth $url $ver\r\n";
    $head .= "Host: $ServerName\r\n" if $hdrs !~ /(?:^|\n)Host:/i;
    $head .= "Connection: $conn\r\n" if $hdrs !~ /(?:^|\n)Connection/i;
    $head .= "$hdrs$len_header\r\n";

    my $full = $head . $content;
    return [{ value => $full }] if @orig <= 1;

    # Keep the caller's packet boundaries: boundaries inside the request
    # line stay at the same offset, those inside the body are shifted;
    # the generated header block always goes with the request line.
    my @cuts;
    my $off = 0;
    my $body_start_orig = $skipped + $first_len + $body_trim_lead;
    for my $i (0 .. $#orig - 1) {
        $off += length($orig[$i]{value} // '');
        my $o = $off - $skipped;
        my $cut;
        if ($o <= 0) {
            $cut = 0;
        } elsif ($off < $skipped + $first_len) {
            $cut = $o < length("$meth $url $ver") ? $o : length $head;
        } else {
            $cut = length($head) + ($off - $body_start_orig);
            $cut = length $head if $cut < length $head;
        }
        $cut = length $full if $cut > length $full;
        push @cuts, $cut;
    }
    my @out;
    my $prev = 0;
    for my $i (0 .. $#orig) {
        my $end = $i < $#orig ? $cuts[$i] : length $full;
        $end = $prev if $end < $prev;
        my %p = %{ $orig[$i] };
        $p{value} = substr $full, $prev, $end - $prev;
        push @out, \%p;
        $prev = $end;
    }
    return \@out;
}

sub _more_headers_for ($$$) {
    my ($name, $more, $i) = @_;
    if (ref $more eq 'ARRAY') {
        my $h = $more->[$i];
        bail_out("$name - --- more_headers lacks data for the request #$i")
            unless defined $h;
        return _expand_note($h, $name, 'more_headers');
    }
    return _expand_note($more, $name, 'more_headers');
}

# list of requests, each { bits => [packets], head => bool }
sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;
    my @reqs;

    if (defined(my $raw = $block->raw_request)) {
        my @bits = ref $raw eq 'ARRAY'
                 ? map { ref $_ ? $_ : { value => $_ } } @$raw
                 : ({ value => $raw });
        push @reqs, { bits => \@bits };

    } elsif (defined(my $pipe = $block->pipelined_requests)) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            unless ref $pipe eq 'ARRAY';
        my $all = '';
        my $more = $block->more_headers // '';
        for my $i (0 .. $#$pipe) {
            my $r = expand_env_in_text($pipe->[$i], $name);
            my $conn = $i == $#$pipe ? 'close' : 'keep-alive';
            my $p = build_request($name, _more_headers_for($name, $more, $i),
                                  $conn, [$r]);
            $all .= $p->[0]{value};
        }
        push @reqs, { bits => [{ value => $all }] };

    } else {
        my $request = $block->request;
        if (!defined $request && defined(my $ev = $block->request_eval)) {
            $request = eval $ev;
            warn $@ if $@;
        }
        bail_out("$name - no --- request section") unless defined $request;
        my $more = $block->more_headers // '';
        my @list = ref $request eq 'ARRAY' ? @$request : ($request);
        bail_out("$name - invalid --- request: MUST be string or array of "
                 . "requests") if ref $request && ref $request ne 'ARRAY';
        for my $i (0 .. $#list) {
            my $one = $list[$i];
            my @packets;
            if (!ref $one) {
                @packets = (_expand_note($one, $name, 'request'));
            } elsif (ref $one eq 'ARRAY') {
                @packets = map {
                    !ref $_ ? _expand_note($_, $name, 'request')
                  : ref $_ eq 'HASH' ? { %$_ }
                  : bail_out("$name - Invalid syntax. $_ should be a string "
                             . "or hash with value.")
                } @$one;
            } else {
                bail_out("$name - Invalid syntax. $one should be a string or "
                         . "an array of packets.");
            }
            my $bits = build_request($name, _more_headers_for($name, $more, $i),
                                     'close', \@packets);
            push @reqs, { bits => $bits };
        }
    }

    for my $r (@reqs) {
        my $all = join '', map { $_->{value} // '' } @{ $r->{bits} };
        $r->{head} = $all =~ /^\s*HEAD\s+/ ? 1 : 0;
    }
    return \@reqs;
}

#--------------------------------------------------------------------------
# sending
#--------------------------------------------------------------------------

sub _snippet ($;$) {
    my ($s, $max) = @_;
    $max ||= 600;
    return '(nothing)' unless defined $s && length $s;
    return length($s) > $max ? substr($s, 0, $max) . "...[truncated]" : $s;
}

sub send_request ($$$) {
    my ($block, $req, $timeout) = @_;
    my $name = $block->name;
    my $addr = $block->server_addr_for_client // $ServerAddr;

    if (defined $Test::Nginx::Util::StartupError) {
        Test::More::fail("$name - Can't connect to $addr:$ServerPortForClient: "
                         . "nginx failed to start (see above)");
        return '';
    }

    my $r = Test::Nginx::Client::exchange(
        addr => $addr,
        port => $ServerPortForClient,
        bits => $req->{bits},
        timeout => $timeout,
        middle_delay => scalar(Test::Nginx::Util::parse_time(
                            scalar $block->raw_request_middle_delay)),
        shutdown => scalar($block->shutdown),
        connect_wait => $Test::Nginx::Util::UseValgrind ? 30 : 5,
        alive => sub {
            $Test::Nginx::Util::NoNginxManager
                || Test::Nginx::Util::nginx_is_running();
        },
    );

    if (!$r->{connected}) {
        Test::More::fail("$name - Can't connect to $addr:$ServerPortForClient: "
                         . ($r->{connect_error} // 'unknown error')
                         . " (aborted)");
        Test::More::diag("nginx is " . (Test::Nginx::Util::nginx_is_running()
                                         ? '' : 'NOT ') . "running; tail of "
                         . "$Test::Nginx::Util::ErrLogFile:\n"
                         . Test::Nginx::Util::error_log_tail(20));
        return '';
    }

    if ($r->{timed_out} && !defined $block->abort) {
        Test::More::fail("ERROR: client socket timed out - $name");
        Test::More::diag("no data for ${timeout}s; received so far: "
                         . _snippet($r->{resp}));
    }
    if ($r->{write_error}) {
        warn "WARNING: $name - write failed: $r->{write_error}\n";
    }
    if ($r->{read_error}) {
        warn "WARNING: $name - HTTP response read failure: $r->{read_error}\n";
    }
    return $r->{resp};
}

#--------------------------------------------------------------------------
# the per-repeat driver (called by Test::Nginx::Util::run_test)
#--------------------------------------------------------------------------

sub run_test_helper ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = Test::Nginx::Util::parse_time($block->timeout);
    $timeout = timeout() unless defined $timeout && length $timeout;

    my $pipe = $block->pipelined_requests;
    my $per_send = $pipe && !defined $block->raw_request ? scalar @$pipe : 1;
    my $need_array = $per_send > 1 || @$reqs > 1;
    my $ignore = defined $block->ignore_response;

    my $res;
    my $req_idx = 0;
    for my $i (0 .. $#$reqs) {
        my $raw = send_request($block, $reqs->[$i], $timeout);

        for my $k (1 .. $per_send) {
            my ($raw_headers, $left, $err) = ('');
            if (!$ignore) {
                if (defined $block->http09) {
                    $res = Test::Nginx::Client::Response->new(200, 'OK', undef,
                                                             [], $raw);
                } else {
                    ($res, $raw_headers, $left, $err) =
                        Test::Nginx::Client::parse_response($raw,
                                                            $reqs->[$i]{head});
                    $raw_headers //= '';
                }
                if ($res && $res->{truncated}) {
                    warn "WARNING: $name - $res->{truncated}\n";
                }
                if ($err) {
                    Test::More::fail("$name - $err");
                    Test::More::diag("raw response: " . _snippet($raw, 2000));
                }
                if ($k == $per_send && defined $left && length $left) {
                    (my $l = _snippet($left, 200)) =~
                        s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after the "
                         . "response: \"$l\"\n";
                }
                $raw = $left // '';

                check_error_code($block, $res, $raw_headers, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $req_idx, $rep, $need_array);
            }

            my $last = $i == $#$reqs && $k == $per_send;
            if (!$last) {
                sleep Test::Nginx::Util::parse_time($block->wait)
                    if $block->wait;
                check_error_log($block, $res, $rep, $need_array);
                check_access_log($block, $rep) unless $ignore;
            }
            $req_idx++;
        }
    }

    sleep Test::Nginx::Util::parse_time($block->wait) if $block->wait;
    check_error_log($block, $res, $rep, $need_array);
    check_access_log($block, $rep) unless $ignore;
}

#--------------------------------------------------------------------------
# checks (one test per checked item, counted like CPAN)
#--------------------------------------------------------------------------

sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$req_idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return $value->[0] if ref $value eq 'ARRAY';
    return $value;
}

sub check_error_code ($$$$$) {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    my $ok;
    if (defined $block->error_code_like) {
        my $val = get_indexed_value($name, $block->error_code_like, $req_idx,
                                    $need_array);
        $ok = Test::More::like($code, qr/$val/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        $ok = Test::More::is($code, get_indexed_value($name, $block->error_code,
                                                      $req_idx, $need_array),
                             "$name - status code ok");
    } else {
        $ok = Test::More::is($code, 200, "$name - status code ok");
    }
    if (!$ok && $res) {
        Test::More::diag("response headers:\n" . _snippet($raw_headers, 1500)
                         . "\nresponse body:\n" . _snippet($res->content, 1000));
    }
}

sub check_raw_response_headers ($$$$) {
    my ($block, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        my $e = get_indexed_value($name, $block->raw_response_headers_like,
                                  $req_idx, $need_array);
        Test::More::like($raw_headers, qr/$e/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $e = get_indexed_value($name, $block->raw_response_headers_unlike,
                                  $req_idx, $need_array);
        Test::More::unlike($raw_headers, qr/$e/s,
                           "$name - raw resp headers unlike");
    }
}

sub check_response_headers ($$$$$) {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        if (defined $block->response_headers_like) {
            _note_once("rhl-$name", "NOTE: $name - --- response_headers_like is "
                       . "ignored when --- response_headers is present (same "
                       . "as CPAN Test::Nginx)");
        }
        my $h = parse_headers(get_indexed_value($name, $block->response_headers,
                                                $req_idx, $need_array));
        for my $key (sort keys %$h) {
            my $val = $h->{$key};
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                    "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' unless defined $actual;
            Test::More::is($actual, $val, "$name - header $key ok");
        }

    } elsif (defined $block->response_headers_like) {
        my $h = parse_headers(get_indexed_value($name,
                                                $block->response_headers_like,
                                                $req_idx, $need_array));
        for my $key (sort keys %$h) {
            my $val = $h->{$key};
            $val = '' unless defined $val;
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' unless defined $actual;
            Test::More::like($actual, qr/^$val$/, "$name - header $key like ok");
        }
    }
}

sub _run_body_filter ($$$) {
    my ($block, $f, $content) = @_;
    return $f->($content) if ref $f eq 'CODE';
    my $name = $block->name;
    bail_out("$name - the --- response_body_filters section only supports "
             . "subroutine references and names") if ref $f;
    return $f eq 'md5_hex'  ? Digest::MD5::md5_hex($content)
         : $f eq 'sha1_hex' ? Digest::SHA::sha1_hex($content)
         : $f eq 'uc'       ? uc $content
         : $f eq 'lc'       ? lc $content
         : $f eq 'ucfirst'  ? ucfirst $content
         : $f eq 'lcfirst'  ? lcfirst $content
         : $f eq 'length'   ? length $content
         : bail_out("$name - unknown filter, \"$f\", specified in the --- "
                    . "response_body_filters section");
}

sub transform_response_body ($$$) {
    my ($block, $res, $req_idx) = @_;
    return unless $res && defined $res->content;
    my $filters = $block->response_body_filters;
    return unless defined $filters;
    my $name = $block->name;
    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//g;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (@$filters && ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$req_idx];
        bail_out("$name - the --- response_body_filters two-dimensional array "
                 . "has no entry for request $req_idx") unless defined $filters;
    }
    my $c = $res->content;
    $c = _run_body_filter($block, $_, $c) for (ref $filters eq 'ARRAY'
                                               ? @$filters : ($filters));
    $res->content($c);
}

sub check_response_body ($$$$$) {
    my ($block, $res, $req_idx, $rep, $need_array) = @_;
    my $name = $block->name;

    if (defined(my $file = $block->write_resp_body_file)) {
        if ($res && open my $out, '>', $file) {
            print $out $res->content // '';
            close $out;
        }
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $content = $res ? $res->content : undef;
        my $expected;
        if (defined $block->response_body_eval) {
            $expected = eval get_indexed_value($name, $block->response_body_eval,
                                               $req_idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, $block->response_body,
                                          $req_idx, $need_array);
        }
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name);
        }
        if (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $rep, req $req_idx)");
        } else {
            is_str($content, $expected,
                "$name - response_body - response is expected (repeated req "
                . "$rep, req $req_idx)");
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my ($pats, $type) = defined $block->response_body_like
                          ? ($block->response_body_like, 'like')
                          : ($block->response_body_unlike, 'unlike');
        my $content = $res ? $res->content : undef;
        my $pat = get_indexed_value($name, $pats, $req_idx, $need_array);
        $pat = '' unless defined $pat;
        unless (ref $pat) {
            $pat =~ s/\$ServerPort\b/$ServerPort/g;
            $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $summary = trim($content) // '';
        my $desc = "$name - response_body_$type - response is expected ($summary)";
        if ($type eq 'like') {
            Test::More::like($content, qr/$pat/s, $desc);
        } else {
            Test::More::unlike($content, qr/$pat/s, $desc);
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $req_idx, $rep, 0);
    }
}

sub _fmt ($) {
    my $s = shift;
    $s = "$s";
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub _patterns ($) {
    my $pats = shift;
    return [] unless defined $pats;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats] if ref $pats eq 'ARRAY';
    return [$pats];
}

sub _match ($$) {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ /$pat/ : index($line, $pat) >= 0;
}

sub _value_contains;
sub _value_contains {
    my ($v, $s) = @_;
    return 0 unless defined $v;
    return index("$v", $s) >= 0 if !ref $v || ref $v eq 'Regexp';
    if (ref $v eq 'ARRAY') {
        for (@$v) { return 1 if _value_contains($_, $s) }
    }
    return 0;
}

sub _log_excerpt ($$) {
    my ($lines, $file) = @_;
    return "($file: no new lines)" unless @$lines;
    my @l = @$lines > 40 ? (@$lines[0 .. 4], "...\n", @$lines[-30 .. -1]) : @$lines;
    return "lines read from $file:\n" . join '', @l;
}

# "error_log"/"access_log"-style positive and negative pattern checks
sub _check_log_patterns ($$$$$$) {
    my ($block, $lines, $pos, $neg, $what, $rep) = @_;
    my $name = $block->name;

    if (defined $pos) {
        for my $pat (@{ _patterns($pos) }) {
            next unless defined $pat;
            my $found = grep { _match($_, $pat) } @$lines;
            if ($found) {
                Test::More::pass("$name - pattern \"$pat\" matches a line in "
                                 . "$what (req $rep)");
            } else {
                Test::More::fail("$name - pattern \"$pat\" should match a line "
                                 . "in $what (req $rep)");
                Test::More::diag(_log_excerpt($lines, $what));
            }
        }
    }

    if (defined $neg) {
        for my $pat (@{ _patterns($neg) }) {
            next unless defined $pat;
            my @hits = grep { _match($_, $pat) } @$lines;
            my $p = _fmt($pat);
            if (@hits) {
                my $ln = _fmt($hits[0]);
                Test::More::fail("$name - pattern \"$p\" should not match any "
                                 . "line in $what but matches line \"$ln\" "
                                 . "(req $rep)");
                Test::More::diag("matching lines in $what:\n"
                                 . join '', @hits[0 .. ($#hits > 9 ? 9 : $#hits)]);
            } else {
                Test::More::pass("$name - pattern \"$p\" does not match a line "
                                 . "in $what (req $rep)");
            }
        }
    }
}

sub check_access_log ($$) {
    my ($block, $rep) = @_;
    return unless defined $block->access_log || defined $block->no_access_log;
    my $lines = access_log_data();
    _check_log_patterns($block, $lines, scalar($block->access_log),
                        scalar($block->no_access_log), 'access.log', $rep);
}

sub check_error_log ($$$$) {
    my ($block, $res, $rep, $need_array) = @_;
    my $name = $block->name;
    my $lines;

    my $grep_pats = $block->grep_error_log;
    my $grep_pat;
    if (defined $grep_pats) {
        $grep_pat = ref $grep_pats eq 'ARRAY' ? $grep_pats->[$rep] : $grep_pats;
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- "
                 . "grep_error_log_out is defined");
    }

    if (defined $grep_pat) {
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- "
                 . "grep_error_log is defined") unless defined $expected;
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        $expected = expand_env_in_text($expected, $name)
            if defined $expected && !ref $expected;
        $lines ||= error_log_data();
        my $matched = '';
        for my $line (@$lines) {
            if (ref $grep_pat ? $line =~ /$grep_pat/ : $line =~ /\Q$grep_pat\E/) {
                my $m = $&;
                $matched .= "$m\n" if $m !~ /\n/;
            }
        }
        is_str($matched, $expected, "$name - grep_error_log_out (req $rep)");
    }

    my ($chk_alert, $chk_crit, $chk_emerg) = (1, 1, 1);
    for my $v (scalar($block->error_log), scalar($block->no_error_log)) {
        $chk_alert = 0 if _value_contains($v, '[alert');
        $chk_crit = 0 if _value_contains($v, '[crit');
        $chk_emerg = 0 if _value_contains($v, '[emerg');
    }

    if (defined $block->error_log || defined $block->no_error_log) {
        $lines ||= error_log_data();
        _check_log_patterns($block, $lines, scalar($block->error_log),
                            scalar($block->no_error_log), 'error.log', $rep);
    }

    $lines ||= error_log_data();
    for my $line (@$lines) {
        if (($chk_alert && $line =~ /\[alert\]/)
            || ($chk_crit && $line =~ /\[crit\]/)
            || ($chk_emerg && $line =~ /\[emerg\]/))
        {
            warn "WARNING: $name - " . _fmt($line) . "\n";
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            (my $l = $line) =~ s/\s+$//;
            Test::More::fail("$name - $l");
        }
    }
}

1;
