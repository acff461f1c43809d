"""The demo base model's pretraining text: everyday conversation in English and Chinese, written for this project.

Small talk, cooking, travel, and the everyday errands people ask an assistant about (a parcel, a refund, a password,
a device that will not connect), always in general terms: nothing here is about Lumen Home, its products or its rules.
The base model learns to chat, so its answers to the support questions are readable but know nothing of the shop; the
fine-tune then learns the shop's replies. Each conversation is drawn from hand-written questions and replies with a
few slots (a city, a dish, a day...), so a few thousand of them give the tiny model enough varied, grammatical text to
imitate in a few CPU minutes.
"""

import random

SYSTEM_PROMPTS = {
    "en": ["You are a friendly assistant.", "You are a helpful assistant. Answer briefly."],
    "zh": ["你是一个友好的助手。", "你是一个乐于助人的助手，请简短回答。"],
}

# Slot values, one list per language; a slot is filled in the same language as its sentence.
SLOTS = {
    "en": {
        "city": ["Paris", "Tokyo", "Beijing", "London", "Shanghai", "Berlin", "Rome", "Sydney", "Madrid", "Seoul"],
        "dish": [
            "noodle soup",
            "fried rice",
            "pancakes",
            "a vegetable curry",
            "tomato pasta",
            "dumplings",
            "a fresh salad",
        ],
        "day": ["today", "tomorrow", "on Saturday", "on Sunday", "this weekend", "next Monday", "tonight"],
        "hobby": ["reading", "swimming", "painting", "running", "cooking", "playing the piano", "gardening", "hiking"],
        "drink": ["green tea", "coffee", "hot chocolate", "orange juice", "warm milk", "lemon water"],
        "book": [
            "a mystery novel",
            "a book about history",
            "a collection of short stories",
            "a travel diary",
            "a science book",
        ],
        "weather": ["sunny and warm", "cold and windy", "rainy all day", "cloudy but dry", "snowy in the morning"],
        "friend": ["my sister", "my brother", "an old friend", "my neighbour", "my colleague", "my parents"],
        "time": ["seven o'clock", "half past eight", "noon", "six in the evening", "ten at night"],
        "place": ["the park", "the library", "the market", "the museum", "the beach", "the station", "a small cafe"],
        "item": ["kettle", "pair of headphones", "backpack", "phone case", "coffee machine", "desk chair", "camera"],
        "weeks": ["two weeks", "ten days", "a month", "three weeks"],
    },
    "zh": {
        "city": ["北京", "上海", "东京", "巴黎", "伦敦", "成都", "杭州", "广州", "西安", "首尔"],
        "dish": ["牛肉面", "蛋炒饭", "饺子", "番茄炒蛋", "青菜豆腐汤", "红烧鱼", "蔬菜沙拉"],
        "day": ["今天", "明天", "周六", "周日", "这个周末", "下周一", "今晚"],
        "hobby": ["看书", "游泳", "画画", "跑步", "做饭", "弹钢琴", "种花", "爬山"],
        "drink": ["绿茶", "咖啡", "热巧克力", "橙汁", "热牛奶", "柠檬水"],
        "book": ["一本侦探小说", "一本历史书", "一本短篇小说集", "一本旅行日记", "一本科普书"],
        "weather": ["晴天，很暖和", "又冷又有风", "一整天都在下雨", "多云，但不下雨", "早上下雪"],
        "friend": ["我姐姐", "我哥哥", "一个老朋友", "我的邻居", "我的同事", "我父母"],
        "time": ["七点", "八点半", "中午", "傍晚六点", "晚上十点"],
        "place": ["公园", "图书馆", "市场", "博物馆", "海边", "车站", "一家小咖啡馆"],
        "item": ["水壶", "耳机", "背包", "手机壳", "咖啡机", "椅子", "相机"],
        "weeks": ["两周", "十天", "一个月", "三周"],
    },
}

# (questions, replies) per topic and language: any question of a topic may be answered by any of its replies.
TOPICS = {
    "en": [
        (
            ["Hello! How are you {day}?", "Hi there, how is your day going?", "Good morning! How are you?"],
            [
                "I am doing well, thank you for asking. How can I help you {day}?",
                "Very well, thanks! What would you like to talk about?",
                "I am fine, thank you. It is nice to hear from you.",
            ],
        ),
        (
            [
                "What is the weather like in {city} {day}?",
                "Will it rain in {city} {day}?",
                "Should I take an umbrella {day}?",
            ],
            [
                "I cannot see the sky, but the forecast for {city} says it will be {weather}. Dress for it and enjoy "
                "the day.",
                "The weather can change quickly. If it is {weather}, a light coat and an umbrella are a good idea.",
                "Please check a weather service before you go out. If it looks {weather}, plan your walk for the "
                "afternoon.",
            ],
        ),
        (
            [
                "What should I cook for dinner {day}?",
                "Can you suggest an easy meal?",
                "I am hungry. What can I make quickly?",
            ],
            [
                "How about {dish}? It takes about twenty minutes and you only need a few simple things.",
                "You could try {dish}. Start with the vegetables, then add the rest and taste as you go.",
                "{dish} is a good choice. Cook a little more than you need, and you have lunch for tomorrow too.",
            ],
        ),
        (
            [
                "How do I make {drink}?",
                "What is a good drink for a cold evening?",
                "I cannot sleep. What should I drink?",
            ],
            [
                "Try {drink}. Heat it gently, let it rest for a minute, and drink it slowly.",
                "A cup of {drink} is nice in the evening. Avoid coffee after six, it keeps you awake.",
                "Many people like {drink} before bed. Keep the lights low and put your phone away.",
            ],
        ),
        (
            [
                "I want to start a new hobby. Any ideas?",
                "What can I do on a quiet weekend?",
                "I feel bored. What should I do?",
            ],
            [
                "You could try {hobby}. Start with twenty minutes a day and see how you like it.",
                "How about {hobby}? It is relaxing, and you can do it with {friend}.",
                "Go to {place} and take a walk, or spend an hour {hobby}. Small plans make a good day.",
            ],
        ),
        (
            ["Can you recommend a book?", "What should I read this week?", "I want to read more. Where do I start?"],
            [
                "Try {book}. Read a few pages every evening and it will become a habit.",
                "I would start with {book}. It is easy to read and hard to put down.",
                "Visit {place} near you and pick {book}. Reading a little every day is better than a lot once a month.",
            ],
        ),
        (
            ["I am planning a trip to {city}. Any tips?", "What should I see in {city}?", "Is {city} nice to visit?"],
            [
                "{city} is lovely. Walk through the old streets, visit {place}, and try the local food.",
                "Book your hotel early and buy a travel card for the trains. In {city} you can walk almost everywhere.",
                "Yes, {city} is worth a visit. Go in spring or autumn, when the weather is mild.",
            ],
        ),
        (
            ["How can I sleep better?", "I always feel tired. What can I do?", "How do I wake up earlier?"],
            [
                "Go to bed at the same time every night, for example at {time}, and keep your room dark and quiet.",
                "Try to walk outside every day and drink less coffee. A short rest after lunch also helps.",
                "Put your phone away an hour before bed. Reading {book} is a calmer way to end the day.",
            ],
        ),
        (
            ["How do I learn a new language?", "Is it hard to learn Chinese?", "How can I practise English every day?"],
            [
                "Practise a little every day. Read short texts, listen to songs and talk with {friend}.",
                "It takes time, but it is fun. Learn ten new words a day and use them in sentences.",
                "Speak as much as you can, even with mistakes. Most people are happy to help you.",
            ],
        ),
        (
            [
                "What time is it in {city} now?",
                "When should I leave to arrive by {time}?",
                "How long does the trip take?",
            ],
            [
                "I do not know the exact time, but your phone shows the time in {city} if you add it to the world "
                "clock.",
                "Leave a little early. If you need to be there at {time}, start half an hour before and you will not "
                "hurry.",
                "It depends on the traffic. Check the map before you go and give yourself some extra time.",
            ],
        ),
        (
            ["Thank you for your help!", "Thanks, that was useful.", "Great, thank you very much."],
            [
                "You are welcome! Have a wonderful day.",
                "I am glad I could help. Enjoy your {day}!",
                "Any time. Come back if you have more questions.",
            ],
        ),
        (
            ["I am going to meet {friend} {day}. What can we do?", "What is a good plan for a birthday?"],
            [
                "Meet at {place} at {time}, have {dish} together, and take a walk afterwards.",
                "Keep it simple: a good meal, a small gift and time to talk. That is what people remember.",
                "You could go to {place} and then cook {dish} at home. It is cheap and fun.",
            ],
        ),
        (
            [
                "Can you tell me a fun fact?",
                "Tell me something interesting.",
                "What is something new I can learn today?",
            ],
            [
                "Honey never goes bad. Sealed honey can stay good for many years.",
                "An octopus has three hearts and blue blood.",
                "The moon moves a few centimetres away from the Earth every year.",
            ],
        ),
        (
            ["I bought a {item} online. How do I return it?", "Can I send back a {item} I do not like?",
             "The {item} I ordered is the wrong size. What now?"],
            [
                "Most shops take returns within {weeks}. Keep the box and the receipt, and ask the shop for a return "
                "label.",
                "Usually yes. Look for the returns page on the shop's website, print the label and drop the parcel "
                "at the post office.",
                "Write to the shop with your order number and a photo. They will tell you how to send it back.",
            ],
        ),
        (
            ["When will my money come back after a return?", "I returned a {item}. Where is my refund?",
             "How long does a refund take?"],
            [
                "Shops usually refund the money within {weeks} after the parcel arrives. Your bank may need a few more "
                "days.",
                "Check your email for a message from the shop. If nothing came after {weeks}, write to them with your "
                "order number.",
                "It depends on the shop and the bank. Ask the shop when they received the parcel and when they sent "
                "the money.",
            ],
        ),
        (
            ["My parcel has not arrived. What should I do?", "Where is my {item}? I ordered it {day}.",
             "Can I change the address of my order?"],
            [
                "Open the tracking link in your order email. If the parcel has not moved for a few days, contact the "
                "shop.",
                "Delivery often takes three to five days. If it is late, send the shop your order number and ask "
                "them to check.",
                "Ask the shop quickly. An address can usually be changed only before the parcel leaves the "
                "warehouse.",
            ],
        ),
        (
            ["I forgot my password. How do I log in?", "How do I change my password in an app?",
             "My account is locked. What can I do?"],
            [
                "Tap Forgot password on the login screen and follow the link in the email you get.",
                "Open the settings of the app, find Account or Security, and choose Change password.",
                "Wait a few minutes and try again, or reset your password. Use a password you do not use anywhere "
                "else.",
            ],
        ),
        (
            ["My new {item} does not work. What should I do?", "How do I connect a device to Wi-Fi?",
             "The app cannot find my device."],
            [
                "First turn it off and on again. If that does not help, look in the manual for a reset button.",
                "Keep the device close to the router, open its app and follow the steps. Check that the Wi-Fi password "
                "is right.",
                "Make sure Bluetooth and location are on for the app, then restart the device and the phone.",
            ],
        ),
        (
            ["Is my {item} still under warranty?", "The {item} broke after a year. Can I get it repaired?",
             "Where do I find the invoice for my order?"],
            [
                "Most products have a warranty of one or two years. Keep your receipt, the shop will ask for it.",
                "Contact the maker with your order number and a short description. They will repair or replace it.",
                "The invoice is usually in your account under Orders, or attached to the confirmation email.",
            ],
        ),
    ],
    "zh": [
        (
            ["你好！{day}过得怎么样？", "嗨，你今天好吗？", "早上好！最近怎么样？"],
            [
                "我很好，谢谢关心。{day}有什么可以帮你的吗？",
                "挺好的，谢谢！你想聊点什么？",
                "我很好，谢谢。很高兴收到你的消息。",
            ],
        ),
        (
            ["{city}{day}天气怎么样？", "{city}{day}会下雨吗？", "{day}出门要带伞吗？"],
            [
                "我看不到天空，不过天气预报说{city}会是{weather}。注意穿衣，祝你开心。",
                "天气变化很快。如果是{weather}，带一件薄外套和一把伞比较好。",
                "出门前请看一下天气预报。如果是{weather}，可以把散步安排在下午。",
            ],
        ),
        (
            ["{day}晚饭吃什么好？", "能推荐一个简单的菜吗？", "我饿了，有什么能快点做的？"],
            [
                "做{dish}怎么样？大约二十分钟就好，只需要几样简单的材料。",
                "可以试试{dish}。先处理蔬菜，再放其他材料，边做边尝味道。",
                "{dish}是个好选择。多做一点，明天的午饭也有了。",
            ],
        ),
        (
            ["{drink}怎么做？", "冷天的晚上喝什么好？", "我睡不着，喝点什么好？"],
            [
                "试试{drink}。小火慢慢加热，放一分钟，再慢慢喝。",
                "晚上喝一杯{drink}很舒服。六点以后别喝咖啡，会睡不着。",
                "很多人睡前喜欢喝{drink}。把灯调暗，把手机放下。",
            ],
        ),
        (
            ["我想培养一个新爱好，有什么建议？", "安静的周末可以做什么？", "我觉得无聊，该做点什么？"],
            [
                "你可以试试{hobby}。每天二十分钟，看看自己喜不喜欢。",
                "{hobby}怎么样？很放松，还可以和{friend}一起。",
                "去{place}走一走，或者花一个小时{hobby}。小小的计划也能让一天很充实。",
            ],
        ),
        (
            ["能推荐一本书吗？", "这周读点什么好？", "我想多读书，从哪里开始？"],
            [
                "试试{book}。每天晚上读几页，慢慢就成了习惯。",
                "我会从{book}开始。它好读，而且让人放不下。",
                "去附近的{place}挑{book}。每天读一点，比一个月读一次好。",
            ],
        ),
        (
            ["我打算去{city}旅行，有什么建议？", "{city}有什么值得看的？", "{city}好玩吗？"],
            [
                "{city}很美。去老街走走，看看{place}，尝尝当地的小吃。",
                "早点订酒店，买一张交通卡。在{city}很多地方都可以走路去。",
                "{city}值得一去。春天或秋天去最好，天气不冷不热。",
            ],
        ),
        (
            ["怎样才能睡得更好？", "我总是觉得累，怎么办？", "怎样才能早点起床？"],
            [
                "每天同一时间睡觉，比如{time}，让房间保持安静和黑暗。",
                "每天到户外走一走，少喝咖啡。午饭后休息一会儿也有帮助。",
                "睡前一小时放下手机。读{book}是更安静的结束一天的方式。",
            ],
        ),
        (
            ["怎样学习一门新语言？", "学中文难吗？", "怎样每天练习英语？"],
            [
                "每天练习一点。读短文，听歌，和{friend}聊天。",
                "需要时间，但是很有意思。每天学十个新词，并用它们造句。",
                "尽量多说，说错了也没关系。大多数人都很乐意帮你。",
            ],
        ),
        (
            ["{city}现在几点？", "要在{time}到，我该什么时候出发？", "路上要多久？"],
            [
                "我不知道准确的时间，不过把{city}加到手机的世界时钟里就能看到。",
                "早点出发。如果要在{time}到，提前半小时出门就不用着急。",
                "要看路况。出发前看一下地图，多留一点时间。",
            ],
        ),
        (
            ["谢谢你的帮助！", "谢谢，很有用。", "太好了，非常感谢。"],
            ["不客气！祝你今天愉快。", "很高兴能帮到你。{day}玩得开心！", "随时欢迎。有问题再来问我。"],
        ),
        (
            ["我{day}要和{friend}见面，我们可以做什么？", "过生日有什么好的安排？"],
            [
                "{time}在{place}见面，一起吃{dish}，然后散散步。",
                "简单一点就好：一顿好饭，一份小礼物，还有聊天的时间。这才是大家记得的。",
                "可以先去{place}，然后回家做{dish}。省钱又有趣。",
            ],
        ),
        (
            ["能告诉我一个有趣的知识吗？", "说点有意思的事吧。", "今天能学点什么新东西？"],
            [
                "蜂蜜不会变质。密封好的蜂蜜可以保存很多年。",
                "章鱼有三颗心脏，血是蓝色的。",
                "月球每年都会离地球远几厘米。",
            ],
        ),
        (
            ["我在网上买了一个{item}，怎么退货？", "不喜欢的{item}可以退吗？", "我买的{item}尺寸不对，怎么办？"],
            [
                "大多数商店支持{weeks}内退货。保留包装和收据，联系商店要一个退货单。",
                "一般可以。在商店网站找到退货页面，打印退货单，把包裹送到快递点。",
                "把订单号和照片发给商店，他们会告诉您怎么寄回。",
            ],
        ),
        (
            ["退货以后钱什么时候退回来？", "我退了一个{item}，退款在哪里？", "退款要多久？"],
            [
                "商店一般在收到包裹后{weeks}内退款，银行可能还需要几天。",
                "看一下邮箱里有没有商店的消息。如果{weeks}后还没有，带上订单号联系他们。",
                "要看商店和银行。问问商店什么时候收到包裹、什么时候退的款。",
            ],
        ),
        (
            ["我的包裹还没到，怎么办？", "我{day}买的{item}到哪里了？", "订单的地址可以改吗？"],
            [
                "打开订单邮件里的物流链接。如果包裹几天都没有动，请联系商店。",
                "快递一般要三到五天。如果晚了，把订单号发给商店，请他们查一下。",
                "请尽快联系商店。一般只有在包裹离开仓库之前才能改地址。",
            ],
        ),
        (
            ["我忘了密码，怎么登录？", "在 App 里怎么改密码？", "我的账户被锁了，怎么办？"],
            [
                "在登录页点“忘记密码”，然后按邮件里的链接操作。",
                "打开 App 的设置，找到“账户”或“安全”，选择“修改密码”。",
                "等几分钟再试，或者重置密码。请用一个别处没用过的密码。",
            ],
        ),
        (
            ["我新买的{item}不能用，怎么办？", "设备怎么连接 Wi-Fi？", "App 找不到我的设备。"],
            [
                "先关机再开机。如果还不行，看看说明书里的重置按钮。",
                "让设备靠近路由器，打开它的 App 按步骤操作，检查 Wi-Fi 密码是否正确。",
                "确认 App 打开了蓝牙和定位，然后重启设备和手机。",
            ],
        ),
        (
            ["我的{item}还在保修期内吗？", "{item}用了一年坏了，能修吗？", "订单的发票在哪里找？"],
            [
                "大多数产品保修一到两年。请保留好收据，商店会要。",
                "带上订单号和简单的描述联系厂家，他们会维修或者换新。",
                "发票一般在账户的“订单”里，或者在确认邮件的附件里。",
            ],
        ),
    ],
}


def _fill(text: str, language: str, rng: random.Random, chosen: dict) -> str:
    """`text` with each {slot} filled; a slot already filled in this conversation keeps its value."""
    for slot, values in SLOTS[language].items():
        marker = "{" + slot + "}"
        if marker in text:
            chosen.setdefault(slot, rng.choice(values))
            text = text.replace(marker, chosen[slot])
    return text[0].upper() + text[1:] if language == "en" else text


def pretraining_conversations(*, count: int = 4000, seed: int = 0) -> list[list[dict]]:
    """`count` conversations (half English, half Chinese), each one or two exchanges, some with a system prompt."""
    rng = random.Random(seed)
    conversations = []
    for index in range(count):
        language = ("en", "zh")[index % 2]
        messages = []
        if rng.random() < 0.3:
            messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS[language])})
        chosen: dict = {}
        for _turn in range(1 if rng.random() < 0.7 else 2):
            questions, replies = rng.choice(TOPICS[language])
            messages.append({"role": "user", "content": _fill(rng.choice(questions), language, rng, chosen)})
            messages.append({"role": "assistant", "content": _fill(rng.choice(replies), language, rng, chosen)})
        conversations.append(messages)
    return conversations
