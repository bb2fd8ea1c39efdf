# Length of the pairing code Happ shows on the TV screen.
CODE_LENGTH = 5
# Image of the key card the cancel button returns to (the core's own picture).
KEY_CARD_IMAGE = "img/pic_view.jpg"
