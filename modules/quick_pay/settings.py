# Fast-flow key shown in the pay menu.
PAYMENT_KEY = "quick_pay"
# Amounts offered, in roubles.
AMOUNTS = (100, 300, 500)
PAYMENT_SYSTEM = "quick_pay"
