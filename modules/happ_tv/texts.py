BTN_CONNECT = "📺 Подключить Happ TV"
