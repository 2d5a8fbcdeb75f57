# sla-pipeline: installs the global scrip "SLA ingest" in Request Tracker 5, whose code is rt-scrip.pl beside
# this file. Run it as RT's administrator while RT runs (no restart needed):
#   rt-setup-database-5 --action insert --datafile /path/to/rt-scrip-data.pl
# Running it again updates the installed scrip's code to this rt-scrip.pl (it never makes a second scrip).
use strict;
use warnings;
use File::Basename ();
use File::Spec ();

my $description = 'SLA ingest: post each transaction to sla-pipeline';
my $code = do {
    my $path = File::Spec->catfile(File::Basename::dirname(File::Spec->rel2abs(__FILE__)), 'rt-scrip.pl');
    open(my $fh, '<:encoding(UTF-8)', $path) or die "cannot read $path: $!";
    local $/;
    <$fh>;
};

our (@Scrips, @Initial);
@Scrips = ({
    Description       => $description,
    ScripCondition    => 'On Transaction',
    ScripAction       => 'User Defined',
    Template          => 'Blank',
    Stage             => 'TransactionCreate',
    CustomIsApplicableCode => '1;',
    CustomPrepareCode => '1;',
    CustomCommitCode  => $code,
});
@Initial = (sub {
    my $scrip = RT::Scrip->new(RT->SystemUser);
    $scrip->LoadByCols(Description => $description);
    return 1 unless $scrip->id;
    my ($ok, $msg) = $scrip->SetCustomCommitCode($code);
    die "cannot update the scrip '$description': $msg\n" unless $ok || $msg =~ /already/i;
    @Scrips = ();    # installed already: its code is now this file's
    return 1;
});
1;
