# sla-pipeline: the commit code of Request Tracker's global scrip "SLA ingest" (condition On Transaction,
# action User Defined, template Blank, stage TransactionCreate). It posts each transaction and its ticket as
# JSON to the ingest gateway (POST /v1/webhooks/rt), signed: X-RT-Signature = hex HMAC-SHA256(secret, body),
# X-RT-Transaction-Id = the transaction's id. rt-scrip-data.pl installs it; `sla-pipeline ingest catchup
# --source rt` builds the same document from RT's REST 2 history (pipeline/ingest/catchup.py), so keep the two
# in step. RT's site config holds the gateway's address and the secret:
#   Set($SLAIngestURL, 'https://sla-ingest.example.com/v1/webhooks/rt');
#   Set($SLAIngestSecret, 'the text of SLA_INGEST_RT_SECRET_FILE');
#   Set($SLAIngestTimeout, 5);   # seconds (optional): the scrip runs inside RT's request
# RT posts once and never retries: a failed post is logged here, and the catch-up replays it from history.
use strict;
use warnings;
use HTTP::Tiny;
use JSON ();
use Digest::SHA qw(hmac_sha256_hex);

my $url    = RT->Config->Get('SLAIngestURL');
my $secret = RT->Config->Get('SLAIngestSecret');
unless ($url && defined $secret && length $secret) {
    RT->Logger->error('SLA ingest: set SLAIngestURL and SLAIngestSecret in RT_SiteConfig.pm');
    return 1;
}
my $txn    = $self->TransactionObj;
my $ticket = $self->TicketObj;

my $utc = sub {    # RT keeps dates in UTC; 1970-01-01 means unset
    my $date = shift;
    return undef unless $date && $date->Unix > 0;
    my ($s, $mi, $h, $d, $mo, $y) = gmtime($date->Unix);
    return sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', $y + 1900, $mo + 1, $d, $h, $mi, $s);
};
my $user = sub {    # a user as REST 2 names it (id = the user's Name), with what tells staff from customers
    my $u = shift;
    return undef unless $u && $u->id;
    return {
        id           => $u->Name,
        EmailAddress => $u->EmailAddress,
        Organization => $u->Organization,
        Privileged   => ($u->Privileged ? JSON::true : JSON::false),
    };
};
my $user_by_id = sub {
    my $u = RT::User->new(RT->SystemUser);
    $u->Load(shift);
    return $user->($u);
};

my %cfs;
my $values = $ticket->CustomFieldValues;
while (my $v = $values->Next) {
    my $cf = RT::CustomField->new(RT->SystemUser);
    $cf->Load($v->CustomField);
    push @{ $cfs{ $cf->Name } }, $v->Content if $cf->id;
}
my @requestors;
my $members = $ticket->Requestors->UserMembersObj;
while (my $u = $members->Next) { push @requestors, $user->($u) }

my %transaction = (
    id       => '' . $txn->id,
    Type     => $txn->Type,
    Field    => $txn->Field,
    OldValue => $txn->OldValue,
    NewValue => $txn->NewValue,
    Created  => $utc->($txn->CreatedObj),
    Creator  => $user->($txn->CreatorObj),
);
if ($txn->Type eq 'Set' && ($txn->Field // '') eq 'Owner') {    # owners are user ids: say who
    $transaction{OldOwner} = $user_by_id->($txn->OldValue);
    $transaction{NewOwner} = $user_by_id->($txn->NewValue);
}
my $body = JSON->new->canonical->utf8->encode({
    transaction => \%transaction,
    ticket      => {
        id           => '' . $ticket->id,
        Queue        => $ticket->QueueObj->Name,
        Status       => $ticket->Status,
        Priority     => '' . ($ticket->Priority // 0),
        Owner        => $user->($ticket->OwnerObj),
        Requestors   => \@requestors,
        CustomFields => \%cfs,
        Created      => $utc->($ticket->CreatedObj),
    },
});
my $response = HTTP::Tiny->new(timeout => RT->Config->Get('SLAIngestTimeout') || 5)->post($url, {
    headers => {
        'Content-Type'      => 'application/json',
        'X-RT-Signature'    => hmac_sha256_hex($body, $secret),
        'X-RT-Transaction-Id' => '' . $txn->id,
    },
    content => $body,
});
RT->Logger->error(sprintf('SLA ingest: transaction %d of ticket %d not delivered: %s %s (replay it with '
    . '`sla-pipeline ingest catchup --source rt --ticket %d`)', $txn->id, $ticket->id, $response->{status},
    $response->{reason}, $ticket->id)) unless $response->{success};
return 1;
