"""What the test modules share: accounts, the clock, paths, test forms, local servers and fakes."""
