package demo

// Document is one article of the demo application's knowledge base: the
// help center of the Nimbus smart thermostat, a product made up for the
// demo (as is its maker, Brightfield Home). The text is original.
type Document struct {
	ID    string
	Title string
	Text  string
}

// Question is a question the demo's users ask. Doc is the id of the
// article that answers it, "" for questions the help center does not
// cover.
type Question struct {
	Text string
	Doc  string
}

// KnowledgeBase returns the help center's articles.
func KnowledgeBase() []Document {
	return []Document{
		{"kb-install-wiring", "Wiring a Nimbus thermostat",
			"Turn off the power to your heating and cooling system at the breaker before you remove the old thermostat. " +
				"Take a photo of the existing wiring, then move each wire to the Nimbus terminal with the same letter. " +
				"The R wire carries power, W calls for heat, Y calls for cooling and G runs the fan. " +
				"Push each wire in until the terminal button clicks, and gently tug it to check that it holds."},
		{"kb-install-cwire", "Homes without a C wire",
			"Nimbus needs a common wire, labelled C, to stay powered all day. " +
				"If your system has no C wire, install the Nimbus power extender kit that ships in the box next to your furnace control board. " +
				"The extender borrows a second conductor from the existing cable, so no new wire has to be pulled through the wall. " +
				"Without a C wire or the extender, the display dims and Wi-Fi drops out during long heating cycles."},
		{"kb-setup-app", "Pairing Nimbus with the Brightfield app",
			"Download the Brightfield Home app and create an account before you power on the thermostat. " +
				"Tap Add device, choose Nimbus, and scan the QR code shown on the thermostat screen. " +
				"Pairing uses Bluetooth for the first minute and then hands the connection over to your home Wi-Fi. " +
				"Keep your phone within three meters of the thermostat until the app shows Setup complete."},
		{"kb-setup-wifi", "Wi-Fi requirements",
			"Nimbus connects to 2.4 GHz Wi-Fi networks that use WPA2 or WPA3 security. " +
				"It cannot join 5 GHz-only networks, captive portals or networks that require a username in addition to a password. " +
				"If your router combines both bands under one name, Nimbus picks the 2.4 GHz band on its own. " +
				"A signal of two bars or more on the thermostat status screen is enough for reliable updates."},
		{"kb-schedule", "Creating a heating schedule",
			"Open the Schedule tab in the app and add a set point for each part of the day, such as wake, leave, return and sleep. " +
				"Each set point has a time and a target temperature, and weekdays can differ from weekends. " +
				"Nimbus starts heating or cooling early so that the room reaches the target at the scheduled time. " +
				"Changing the temperature on the dial holds the new value only until the next set point."},
		{"kb-learning", "Adaptive learning",
			"During the first two weeks Nimbus records every manual change you make on the dial or in the app. " +
				"It then proposes a schedule that matches your habits, which you can accept, edit or reject. " +
				"Adaptive learning never changes an accepted schedule without asking first. " +
				"You can switch learning off in Settings, Schedule, Adaptive learning."},
		{"kb-eco-mode", "Eco mode",
			"Eco mode widens the comfort range so that your system runs less often. " +
				"The default eco range is 16 to 27 degrees Celsius, and you can set your own limits in the app. " +
				"A green leaf on the display shows when Nimbus is saving energy. " +
				"Eco mode turns on automatically when everyone in the household has left home, if presence detection is enabled."},
		{"kb-presence", "Presence detection and geofencing",
			"Presence detection uses the location of the phones in your household to tell whether anyone is home. " +
				"When the last phone leaves the geofence, Nimbus switches to eco mode, and it returns to the schedule when the first phone comes back. " +
				"The default geofence radius is 500 meters and can be enlarged for long commutes. " +
				"Location is checked on the phone, and only the home or away state is sent to Brightfield servers."},
		{"kb-vacation", "Vacation mode",
			"Vacation mode keeps your home at a safe temperature while you travel for several days. " +
				"Enter the dates of your trip in the app and pick a vacation temperature, by default 12 degrees Celsius for heating. " +
				"Nimbus pauses the schedule and adaptive learning until the return date. " +
				"It resumes heating early on the return date so that the house is warm when you arrive."},
		{"kb-room-sensors", "Room sensors",
			"Nimbus room sensors measure temperature and motion in rooms away from the thermostat. " +
				"Each thermostat supports up to six sensors, paired from the app by pressing the button on the back of the sensor. " +
				"You can tell Nimbus to average all rooms, or to follow only the rooms where motion was detected recently. " +
				"A sensor runs for about two years on one CR2477 coin battery."},
		{"kb-sensor-battery", "Replacing a sensor battery",
			"The app warns you when a room sensor battery falls below ten percent. " +
				"Twist the sensor cover counterclockwise, replace the CR2477 coin cell with the positive side facing up, and twist the cover back. " +
				"The sensor keeps its pairing and its room name while the battery is out. " +
				"Used coin cells should go to a battery recycling point, not household waste."},
		{"kb-humidity", "Humidity control",
			"Nimbus shows indoor humidity on its display and in the app. " +
				"If your home has a whole-house humidifier or dehumidifier wired to the HUM terminal, Nimbus can keep humidity within a range you choose. " +
				"A range between 35 and 50 percent is comfortable for most homes in winter. " +
				"Humidity control is not available for portable humidifiers that plug into a wall socket."},
		{"kb-heat-pump", "Heat pumps and auxiliary heat",
			"Nimbus supports air-source heat pumps with up to two compressor stages and electric auxiliary heat. " +
				"Connect the reversing valve wire to the O/B terminal and choose in the app whether it energizes on cooling or on heating. " +
				"Auxiliary heat only starts when the heat pump cannot reach the target on its own within 30 minutes. " +
				"Below a lockout temperature that you set, Nimbus uses auxiliary heat alone."},
		{"kb-compatibility", "Compatible systems",
			"Nimbus works with most 24-volt systems, including gas and oil furnaces, boilers, central air conditioning and heat pumps. " +
				"It does not work with line-voltage baseboard heaters that run on 120 or 240 volts. " +
				"Ductless mini-split systems controlled by an infrared remote are not supported either. " +
				"The compatibility checker in the app asks for a photo of your current wiring and tells you before you buy."},
		{"kb-fan", "Fan modes",
			"The fan can run automatically with heating and cooling, stay on all the time, or circulate for a set number of minutes every hour. " +
				"Circulation mixes the air between floors and evens out hot and cold spots. " +
				"Set the circulation time in Settings, Fan, and choose between 5 and 45 minutes per hour. " +
				"Quiet hours stop circulation at night while keeping heating and cooling active."},
		{"kb-filter", "Filter reminders",
			"Nimbus counts the hours your system has run and reminds you to change the air filter. " +
				"The default reminder comes after 300 hours of runtime, which is roughly every three months for a typical home. " +
				"After you replace the filter, confirm it in the app to restart the count. " +
				"Homes with pets or allergies often benefit from a shorter interval of 200 hours."},
		{"kb-energy-report", "Monthly energy reports",
			"At the start of each month the app shows an energy report with the hours your system ran for heating and cooling. " +
				"The report compares the month with the previous one and with similar homes in your region. " +
				"Weather is taken into account, so a cold month does not look like wasted energy. " +
				"Reports can be e-mailed to every member of the household."},
		{"kb-firmware", "Firmware updates",
			"Nimbus installs firmware updates automatically at night, between 2 and 4 in the morning. " +
				"An update takes about five minutes, and the system keeps its current target temperature while the thermostat restarts. " +
				"You can see the installed version in Settings, About. " +
				"If an update fails, Nimbus keeps the previous version and tries again the following night."},
		{"kb-reset", "Restarting and resetting",
			"To restart Nimbus, press and hold the dial for ten seconds until the screen turns off. " +
				"A restart keeps all your settings, schedules and sensor pairings. " +
				"A factory reset, found in Settings, Reset, erases schedules, Wi-Fi details and sensor pairings, and removes the thermostat from your account. " +
				"Do a factory reset before you sell or give away your thermostat."},
		{"kb-error-e1", "Error E1: no power from the R wire",
			"Error E1 means the thermostat does not detect power on the R terminal. " +
				"Check that the breaker for the furnace is on and that the furnace door switch is closed. " +
				"Make sure the R wire is pushed fully into its terminal. " +
				"If the error stays, a blown fuse on the furnace control board may need to be replaced by a technician."},
		{"kb-error-e4", "Error E4: heating did not start",
			"Error E4 appears when Nimbus called for heat but the room temperature did not rise within 45 minutes. " +
				"The most common causes are a closed gas valve, a tripped furnace safety switch or a very dirty filter. " +
				"Nimbus keeps calling for heat while E4 is shown. " +
				"The error clears on its own once the temperature starts to rise."},
		{"kb-offline", "When the internet is down",
			"Nimbus keeps following your schedule when your internet connection or the Brightfield servers are unavailable. " +
				"You can still change the temperature on the dial, but remote control from the app stops working until the connection returns. " +
				"Presence detection and energy reports pause while the thermostat is offline. " +
				"Changes made on the dial are synchronized with the app as soon as the thermostat is back online."},
		{"kb-matter", "Voice assistants and Matter",
			"Nimbus is a Matter certified device, so it works with any smart home hub or voice assistant that supports Matter. " +
				"Add it from your hub with the Matter setup code printed on the back of the faceplate. " +
				"Through Matter you can read the temperature, change the target and switch between heating and cooling modes. " +
				"Schedules, eco ranges and room sensors are managed only in the Brightfield app."},
		{"kb-household", "Sharing with your household",
			"The account owner can invite up to ten household members from Settings, Household. " +
				"Invited members can change the temperature and the schedule, but only the owner can remove the thermostat or change billing. " +
				"Each member's phone takes part in presence detection once they allow location access. " +
				"Guests can be given temporary access that expires after a chosen number of days."},
		{"kb-child-lock", "Display lock",
			"The display lock stops children and visitors from changing the temperature on the dial. " +
				"Turn it on in Settings, Display, Lock, and choose a four digit PIN. " +
				"While the lock is on, the dial only shows the current temperature. " +
				"Anyone in your household can still change settings from the app."},
		{"kb-display", "Display and units",
			"The display wakes up when someone walks within two meters of the thermostat. " +
				"You can show temperatures in Celsius or Fahrenheit and choose a 12 or 24 hour clock in Settings, Display. " +
				"The farsight option shows the target temperature in large digits that can be read from across the room. " +
				"Screen brightness adjusts to the light in the room unless you set it by hand."},
		{"kb-warranty", "Warranty",
			"Nimbus thermostats come with a two year limited warranty from the date of purchase. " +
				"Room sensors and the power extender kit are covered for one year. " +
				"The warranty does not cover damage caused by incorrect wiring or by a line-voltage system. " +
				"To make a claim, open a support request in the app with the serial number from Settings, About."},
		{"kb-returns", "Returns",
			"You can return a Nimbus bought from the Brightfield store within 60 days for a full refund. " +
				"Perform a factory reset and pack the thermostat with its trim plate and power extender kit. " +
				"Start the return from Orders in your Brightfield account to get a prepaid shipping label. " +
				"Refunds are issued to the original payment method within ten days of the package arriving at the warehouse."},
		{"kb-plus", "Nimbus Plus subscription",
			"Nimbus Plus is an optional subscription that adds system alerts and a longer history. " +
				"Plus watches how long your system takes to reach each target and warns you when it suddenly takes longer, which often points to a failing part. " +
				"Plus also keeps two years of history instead of ninety days. " +
				"All core features, including schedules, eco mode and presence detection, work without a subscription."},
		{"kb-privacy", "Privacy and your data",
			"Nimbus sends temperature, humidity, runtime and home or away state to Brightfield servers to run the app and energy reports. " +
				"Brightfield does not sell this data or use it for advertising. " +
				"You can download all data stored for your home from Settings, Privacy, Export. " +
				"Deleting your account removes the history from Brightfield servers within 30 days."},
		{"kb-multi-zone", "Several thermostats in one home",
			"Homes with several heating zones can use one Nimbus per zone, all in the same app account. " +
				"Each thermostat keeps its own schedule, and presence detection applies to all of them together. " +
				"The Home screen of the app shows every zone with its current and target temperature. " +
				"Room sensors belong to one thermostat and cannot be shared between zones."},
	}
}

// Questions returns the questions the demo's users ask: most are answered
// by one article; a few are about things the help center does not cover.
func Questions() []Question {
	return []Question{
		{"How do I wire the Nimbus thermostat?", "kb-install-wiring"},
		{"Which wire calls for cooling?", "kb-install-wiring"},
		{"My house has no C wire, can I still install Nimbus?", "kb-install-cwire"},
		{"Why does the display dim during long heating cycles?", "kb-install-cwire"},
		{"How do I pair the thermostat with the Brightfield app?", "kb-setup-app"},
		{"Does Nimbus work with 5 GHz Wi-Fi?", "kb-setup-wifi"},
		{"How do I set a different schedule for weekends?", "kb-schedule"},
		{"How long does a temperature set on the dial hold?", "kb-schedule"},
		{"How does adaptive learning work?", "kb-learning"},
		{"How do I switch off adaptive learning?", "kb-learning"},
		{"What temperature range does eco mode use?", "kb-eco-mode"},
		{"What does the green leaf on the display mean?", "kb-eco-mode"},
		{"How does geofencing know that nobody is home?", "kb-presence"},
		{"Can I make the geofence radius larger?", "kb-presence"},
		{"How do I set vacation mode for a trip?", "kb-vacation"},
		{"How many room sensors can one thermostat use?", "kb-room-sensors"},
		{"How many years does a room sensor run on one battery?", "kb-room-sensors"},
		{"How do I replace the coin battery in a sensor?", "kb-sensor-battery"},
		{"Can Nimbus control my whole-house humidifier?", "kb-humidity"},
		{"When does auxiliary heat start on a heat pump?", "kb-heat-pump"},
		{"Where does the reversing valve wire go?", "kb-heat-pump"},
		{"Does Nimbus work with baseboard heaters?", "kb-compatibility"},
		{"Is a ductless mini-split supported?", "kb-compatibility"},
		{"How do I make the fan circulate air every hour?", "kb-fan"},
		{"How often should I change the air filter?", "kb-filter"},
		{"What is in the monthly energy report?", "kb-energy-report"},
		{"When are firmware updates installed?", "kb-firmware"},
		{"How do I restart the thermostat without losing my settings?", "kb-reset"},
		{"What should I do before I sell my thermostat?", "kb-reset"},
		{"What does error E1 mean?", "kb-error-e1"},
		{"The thermostat shows E4, is my furnace broken?", "kb-error-e4"},
		{"Does Nimbus keep working when the internet is down?", "kb-offline"},
		{"Does Nimbus work with Matter and voice assistants?", "kb-matter"},
		{"How do I invite household members to control the thermostat?", "kb-household"},
		{"How do I lock the display so my kids cannot change the temperature?", "kb-child-lock"},
		{"Can the display show Fahrenheit?", "kb-display"},
		{"How long is the warranty on the thermostat?", "kb-warranty"},
		{"How do I return my Nimbus for a refund?", "kb-returns"},
		{"What does a Nimbus Plus subscription add?", "kb-plus"},
		{"Does Brightfield sell my data?", "kb-privacy"},
		{"Can I use several thermostats for different zones?", "kb-multi-zone"},
		// Not covered by the help center.
		{"Can Nimbus open my garage door?", ""},
		{"What is the price of natural gas next winter?", ""},
		{"Can you recommend a good plumber nearby?", ""},
		{"Is there a discount code for students?", ""},
	}
}

// unsupportedClaims are what the answer composer adds when it answers
// beyond its context: plausible-sounding statements that no article
// supports. Each uses words the help center never does, so built-in
// lexical groundedness catches them.
var unsupportedClaims = []string{
	"Nimbus also reads your sleep tracker and pre-warms the bedroom twenty minutes before your alarm rings.",
	"Brightfield technicians will visit your house for free to finish any installation within a fortnight.",
	"Newer units ship with a built-in carbon monoxide detector that calls emergency services automatically.",
	"Owners of a solar inverter get paid credits whenever Nimbus postpones cooling during peak grid demand.",
	"The thermostat can also unlock smart doors and arm burglar alarms through its integrated security hub.",
	"A lifetime guarantee applies if you register the product within forty-eight hours of unboxing it.",
	"Nimbus predicts tomorrow's weather with its own barometer and adjusts radiators before storms arrive.",
	"Pressing the dial three times quickly opens a hidden engineering menu with advanced calibration options.",
}
