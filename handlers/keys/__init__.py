"""Keys (subscriptions): list and card, purchase (with the trial), renewal, panel operations."""
