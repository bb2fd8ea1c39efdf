"""Keys (subscriptions): list and card, trial creation, renewal from the balance."""
